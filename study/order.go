package study

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/tumortracer/tumortracer/dicomio"
)

// Geometry tolerances.
const (
	// parallelCos: normals closer than 1° are one orientation (cosines written with few digits differ a little).
	parallelCos = 0.99985
	// gapFactor: a step between neighbouring slices wider than this times the median spacing is a gap.
	gapFactor = 1.5
	// samePosition is the absolute distance (mm) under which two slices are at one position; 2 % of the median
	// spacing when that is larger.
	samePosition = 0.01
)

// orderSlices fills s.Slices from the image entries in acquisition order and describes its geometry.
//
// Slices are ordered by their distance along the slice normal (ImagePositionPatient projected on the normal of
// ImageOrientationPatient), ties by Instance Number. The direction follows the Instance Numbers when most of
// them run against the normal (a scanner that numbers head to feet keeps that order), so a person scrolls the
// way the series was acquired. Slices without a position or in another orientation follow, by Instance Number.
// A series whose slices carry no position at all (radiographs) is ordered by Instance Number alone.
func orderSlices(s *Series, images []int, entries []Entry) {
	var all []Slice
	for _, i := range images {
		e := &entries[i]
		n := max(e.Frames, 1)
		for f := range n {
			sl := Slice{Entry: i, Path: e.Path, Frame: f, Instance: e.Meta.Instance, Plane: e.Meta.Plane}
			if len(e.Meta.FramePlanes) > 0 {
				sl.Plane = dicomio.Plane{}
				if f < len(e.Meta.FramePlanes) {
					sl.Plane = e.Meta.FramePlanes[f]
				}
			} else if n > 1 {
				sl.Plane.HasPosition = false // one position for many frames orders nothing
			}
			all = append(all, sl)
		}
	}
	s.OrderedBy = OrderInstance
	if len(all) == 0 {
		return
	}
	families := orientationFamilies(all)
	var positioned, rest []Slice
	if len(families) > 0 {
		s.Normal = families[0].normal
		s.Plane = families[0].plane
		for _, sl := range all {
			n, ok := sl.Plane.Normal()
			if ok && sl.Plane.HasPosition && math.Abs(dot(n, s.Normal)) >= parallelCos {
				sl.Location, sl.HasLocation = sl.Plane.Along(s.Normal)
				positioned = append(positioned, sl)
			} else {
				rest = append(rest, sl)
			}
		}
	} else {
		rest = all
	}
	sortByInstance(rest)
	if len(positioned) == 0 {
		s.Slices = rest
		return
	}
	s.OrderedBy = OrderPosition
	sortByLocation(positioned)
	s.Spacing = describeSpacing(s, positioned, entries)
	describeLeftovers(s, families, all, rest)
	s.Slices = append(positioned, rest...)
}

// family is a set of slices with parallel normals.
type family struct {
	normal [3]float64
	plane  string
	count  int
}

// orientationFamilies groups the slices with a position by the direction of their normal, largest first.
func orientationFamilies(all []Slice) []family {
	var fams []family
	for _, sl := range all {
		n, ok := sl.Plane.Normal()
		if !ok || !sl.Plane.HasPosition {
			continue
		}
		found := false
		for k := range fams {
			if math.Abs(dot(n, fams[k].normal)) >= parallelCos {
				fams[k].count++
				found = true
				break
			}
		}
		if !found {
			fams = append(fams, family{normal: n, plane: sl.Plane.Anatomical(), count: 1})
		}
	}
	sort.SliceStable(fams, func(i, j int) bool { return fams[i].count > fams[j].count })
	return fams
}

func dot(a, b [3]float64) float64 { return a[0]*b[0] + a[1]*b[1] + a[2]*b[2] }

// sortByLocation sorts slices along the normal, in the direction most of their Instance Numbers run.
func sortByLocation(sl []Slice) {
	sort.SliceStable(sl, func(i, j int) bool { return tieLess(sl[i], sl[j], sl[i].Location, sl[j].Location) })
	up, down := 0, 0
	for i := 1; i < len(sl); i++ {
		a, b := sl[i-1].Instance, sl[i].Instance
		if a.OK && b.OK && sl[i].Location != sl[i-1].Location {
			switch {
			case b.Value > a.Value:
				up++
			case b.Value < a.Value:
				down++
			}
		}
	}
	if down > up {
		sort.SliceStable(sl, func(i, j int) bool { return tieLess(sl[i], sl[j], -sl[i].Location, -sl[j].Location) })
	}
}

// tieLess orders by key, then Instance Number (numbered first), path and frame.
func tieLess(a, b Slice, ka, kb float64) bool {
	if ka != kb {
		return ka < kb
	}
	return instanceLess(a, b)
}

func instanceLess(a, b Slice) bool {
	if a.Instance.OK != b.Instance.OK {
		return a.Instance.OK
	}
	if a.Instance.OK && a.Instance.Value != b.Instance.Value {
		return a.Instance.Value < b.Instance.Value
	}
	if a.Path != b.Path {
		return a.Path < b.Path
	}
	return a.Frame < b.Frame
}

func sortByInstance(sl []Slice) {
	sort.SliceStable(sl, func(i, j int) bool { return instanceLess(sl[i], sl[j]) })
}

// describeSpacing finds the median spacing of ordered slices and says where positions repeat and where slices
// are missing; it returns the median spacing (0 when fewer than two distinct positions).
func describeSpacing(s *Series, sl []Slice, entries []Entry) float64 {
	if len(sl) < 2 {
		return 0
	}
	steps := make([]float64, len(sl)-1)
	for i := range steps {
		steps[i] = math.Abs(sl[i+1].Location - sl[i].Location)
	}
	var moving []float64
	for _, d := range steps {
		if d > samePosition {
			moving = append(moving, d)
		}
	}
	if len(moving) == 0 {
		if sameImage(sl, entries) {
			s.Problems = append(s.Problems, fmt.Sprintf("All %d slices are the same image (same SOP Instance UID) given in %d files.", len(sl), len(sl)))
		} else {
			s.Problems = append(s.Problems, fmt.Sprintf("All %d slices are at the same position (a time series, or one image stored several times), so they have no order in space.", len(sl)))
		}
		return 0
	}
	median := medianOf(moving)
	same := max(samePosition, 0.02*median)
	var repeats []int // index of the second slice of each pair at one position
	var spacings []float64
	for i, d := range steps {
		if d <= same {
			repeats = append(repeats, i+1)
		} else {
			spacings = append(spacings, d)
		}
	}
	spacing := medianOf(spacings)
	if len(repeats) > 0 {
		s.Problems = append(s.Problems, repeatSentence(sl, repeats, entries))
	}
	// Gaps need a spacing worth the name: at least three steps between distinct positions.
	if len(spacings) >= 3 {
		var gaps []int
		widest := 0
		for i, d := range steps {
			if d > gapFactor*spacing {
				gaps = append(gaps, i)
				if d > steps[widest] || len(gaps) == 1 {
					widest = i
				}
			}
		}
		if len(gaps) > 0 {
			a, b := sl[widest].Location, sl[widest+1].Location
			s.Problems = append(s.Problems, fmt.Sprintf(
				"Slices are missing: %s wider than %.1f × the %s mm spacing, the widest %s mm between %s and %s mm along the slice normal.",
				plural(len(gaps), "gap", "gaps"), gapFactor, mm(spacing), mm(math.Abs(b-a)), mm(math.Min(a, b)), mm(math.Max(a, b))))
		}
	}
	return spacing
}

// sameImage reports whether all slices are one frame of one SOP Instance.
func sameImage(sl []Slice, entries []Entry) bool {
	uid := entries[sl[0].Entry].Meta.SOPInstanceUID
	for _, x := range sl {
		if uid == "" || entries[x.Entry].Meta.SOPInstanceUID != uid || x.Frame != sl[0].Frame {
			return false
		}
	}
	return true
}

// repeatSentence says how many slices repeat a position, where the first is, and what the repeats look like.
func repeatSentence(sl []Slice, repeats []int, entries []Entry) string {
	sameImage := 0
	acquisitions := map[int]bool{}
	for _, i := range repeats {
		a, b := &entries[sl[i-1].Entry].Meta, &entries[sl[i].Entry].Meta
		if a.SOPInstanceUID != "" && a.SOPInstanceUID == b.SOPInstanceUID && sl[i-1].Frame == sl[i].Frame {
			sameImage++
		}
		for _, m := range []*dicomio.Metadata{a, b} {
			if m.Acquisition.OK {
				acquisitions[m.Acquisition.Value] = true
			}
		}
	}
	n := len(repeats)
	head := fmt.Sprintf("%s the position of another slice (the first at %s mm along the slice normal)",
		plural(n, "slice repeats", "slices repeat"), mm(sl[repeats[0]].Location))
	switch {
	case sameImage == n:
		return head + "; they are the same images given twice (same SOP Instance UID)."
	case len(acquisitions) > 1:
		nums := make([]int, 0, len(acquisitions))
		for a := range acquisitions {
			nums = append(nums, a)
		}
		sort.Ints(nums)
		return head + fmt.Sprintf("; they come from acquisitions %s, which are better read one at a time.", joinInts(nums))
	}
	return head + "; the series may hold a repeated acquisition or copies of the same files."
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = fmt.Sprint(x)
	}
	return joinWords(s)
}

// describeLeftovers says why slices were placed after the ordered ones.
func describeLeftovers(s *Series, families []family, all, rest []Slice) {
	if len(rest) == 0 {
		return
	}
	noPosition, noOrientation := 0, 0
	for _, sl := range rest {
		if !sl.Plane.HasPosition {
			noPosition++
		} else if _, ok := sl.Plane.Normal(); !ok {
			noOrientation++
		}
	}
	switch {
	case noPosition > 0 && noOrientation > 0:
		s.Problems = append(s.Problems, fmt.Sprintf("%d of the %d slices have no position or orientation and are placed after the others by instance number.", noPosition+noOrientation, len(all)))
	case noPosition > 0:
		s.Problems = append(s.Problems, fmt.Sprintf("%d of the %d slices have no position and are placed after the others by instance number.", noPosition, len(all)))
	case noOrientation > 0:
		s.Problems = append(s.Problems, fmt.Sprintf("%d of the %d slices have no orientation and are placed after the others by instance number.", noOrientation, len(all)))
	}
	if len(families) > 1 {
		// Families are told apart by direction; a person reads planes, so near-identical planes are counted together.
		var names []string
		count := map[string]int{}
		for _, f := range families[1:] {
			name := planeName(f.plane)
			if count[name] == 0 {
				names = append(names, name)
			}
			count[name] += f.count
		}
		var others []string
		for _, n := range names {
			others = append(others, fmt.Sprintf("%d %s", count[n], n))
		}
		main := families[0]
		s.Problems = append(s.Problems, fmt.Sprintf("The series mixes %d orientations: %s ordered by position, then %s by instance number.",
			len(families), plural(main.count, planeName(main.plane)+" slice", planeName(main.plane)+" slices"), joinWords(others)))
	}
}

// joinWords joins "a", "b" and "c" as "a, b and c".
func joinWords(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

func planeName(p string) string {
	if p == "" {
		return "unoriented"
	}
	return p
}

func medianOf(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := append([]float64(nil), v...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// mm formats a length with at most two decimals ("2.5", "-40", "0.63").
func mm(v float64) string {
	s := strings.TrimRight(strings.TrimRight(fmt.Sprintf("%.2f", v), "0"), ".")
	if s == "-0" {
		return "0"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
