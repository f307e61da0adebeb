package study

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/tumortracer/tumortracer/dicomio"
)

// Group forms the patients, studies, series and picture groups of entries (kept in their order) and orders
// every series' slices. It is pure and cheap (no file is read): a window may call it on the entries read so far.
// The returned Index holds a copy of entries with SeriesKey set.
func Group(entries []Entry) *Index {
	ix := &Index{Entries: append([]Entry(nil), entries...)}
	g := grouper{
		ix: ix, patients: map[string]*Patient{}, studies: map[string]*Study{}, series: map[string]*seriesBuild{},
		groups: map[string]*ImageGroup{},
	}
	for i := range ix.Entries {
		g.add(i)
	}
	for _, b := range g.order {
		b.finish(ix.Entries)
	}
	for _, st := range g.studyOrder {
		sort.SliceStable(st.Series, func(i, j int) bool { return seriesNumberLess(st.Series[i].Number, st.Series[j].Number) })
	}
	return ix
}

// grouper holds the maps Group fills, by key, and the order of first appearance.
type grouper struct {
	ix         *Index
	patients   map[string]*Patient
	studies    map[string]*Study
	studyOrder []*Study
	series     map[string]*seriesBuild
	order      []*seriesBuild
	groups     map[string]*ImageGroup
}

// seriesBuild collects a series' members before its slices are ordered.
type seriesBuild struct {
	s        *Series
	images   []int           // entries that become slices
	studies  map[string]bool // Study Instance UIDs its files name
	patients map[string]bool // patient keys its files name
}

func patientKey(m *dicomio.Metadata) string { return m.PatientID + "\x00" + m.PatientName }

func (g *grouper) add(i int) {
	e := &g.ix.Entries[i]
	switch {
	case e.Kind == KindPicture && e.Err == nil:
		dir := filepath.Dir(e.Path)
		grp, ok := g.groups[dir]
		if !ok {
			grp = &ImageGroup{Folder: dir}
			g.groups[dir] = grp
			g.ix.Groups = append(g.ix.Groups, grp)
		}
		grp.Entries = append(grp.Entries, i)
	case e.Format == dicomio.FormatDICOM && e.Kind != KindDirectory && e.Meta.SeriesInstanceUID != "":
		b := g.seriesOf(&e.Meta)
		e.SeriesKey = b.s.Key
		b.studies[e.Meta.StudyInstanceUID] = true
		b.patients[patientKey(&e.Meta)] = true
		if e.Kind == KindImage && e.Err == nil {
			b.images = append(b.images, i)
			if b.s.Kind != KindImage {
				b.describe(&e.Meta) // a series is described by its images rather than its localizer or report
			}
			b.s.Kind = KindImage
		} else {
			b.s.Objects = append(b.s.Objects, i)
		}
	}
}

// seriesOf finds or creates the series of m, and its study and patient.
func (g *grouper) seriesOf(m *dicomio.Metadata) *seriesBuild {
	if b, ok := g.series[m.SeriesInstanceUID]; ok {
		return b
	}
	pk := patientKey(m)
	p, ok := g.patients[pk]
	if !ok {
		p = &Patient{ID: m.PatientID, Name: m.PatientName}
		g.patients[pk] = p
		g.ix.Patients = append(g.ix.Patients, p)
	}
	sk := m.StudyInstanceUID
	if sk == "" {
		sk = "\x00no study uid\x00" + pk // files without a Study UID form one study per patient
	}
	st, ok := g.studies[sk]
	if !ok {
		st = &Study{UID: m.StudyInstanceUID, Date: m.StudyDate, Description: m.StudyDescription}
		g.studies[sk] = st
		g.studyOrder = append(g.studyOrder, st)
		p.Studies = append(p.Studies, st)
	}
	b := &seriesBuild{
		s:       &Series{Key: SeriesKey(m.SeriesInstanceUID), UID: m.SeriesInstanceUID},
		studies: map[string]bool{}, patients: map[string]bool{},
	}
	b.describe(m)
	st.Series = append(st.Series, b.s)
	g.series[m.SeriesInstanceUID] = b
	g.order = append(g.order, b)
	return b
}

func (b *seriesBuild) describe(m *dicomio.Metadata) {
	b.s.Number, b.s.Description, b.s.Modality, b.s.BodyPart = m.SeriesNumber, m.SeriesDescription, m.Modality, m.BodyPart
}

// finish orders the slices, sets the kind of a series without images and adds the problems of its identity.
func (b *seriesBuild) finish(entries []Entry) {
	s := b.s
	if len(b.images) == 0 {
		s.Kind = commonKind(s.Objects, entries)
	}
	orderSlices(s, b.images, entries)
	if len(b.patients) > 1 {
		s.Problems = append(s.Problems, fmt.Sprintf("The files of this series name %d different patients; check that they belong together before reading it.", len(b.patients)))
	}
	if len(b.studies) > 1 {
		s.Problems = append(s.Problems, fmt.Sprintf("The files of this series name %d different studies; it is listed under the first.", len(b.studies)))
	}
}

// commonKind is the most frequent kind among a series' objects, preferring readable ones.
func commonKind(objects []int, entries []Entry) Kind {
	count := map[Kind]int{}
	best := KindUnreadable
	for _, i := range objects {
		k := entries[i].Kind
		if entries[i].Err != nil && k == KindImage {
			k = KindUnreadable // images without pixel data
		}
		count[k]++
		if best == KindUnreadable && k != KindUnreadable || k != KindUnreadable && count[k] > count[best] {
			best = k
		}
	}
	return best
}

// seriesNumberLess orders Series Numbers numerically when both are numbers, numbered before unnumbered.
func seriesNumberLess(a, b string) bool {
	x, errA := strconv.Atoi(strings.TrimSpace(a))
	y, errB := strconv.Atoi(strings.TrimSpace(b))
	switch {
	case errA == nil && errB == nil:
		return x < y
	case errA == nil:
		return true
	}
	return false
}
