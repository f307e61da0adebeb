package inference

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// TestPopulationValidate: a declared population is checked with the rest of the manifest, every problem at once,
// and a gate may not declare one (its routed models do).
func TestPopulationValidate(t *testing.T) {
	good := goodYAML + `population:
  description: "Children aged 1 to 5 years; frontal chest films."
  age_years: {min: 1, max: 5}
  views: [PA, AP]
  body_parts: [CHEST]
  planes: [axial]
`
	m, err := ParseManifest([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatalf("good population: %v", err)
	}
	p := m.Population
	if p == nil || *p.AgeYears.Min != 1 || *p.AgeYears.Max != 5 || p.Views[1] != "AP" || p.Planes[0] != "axial" {
		t.Fatalf("population read as %+v", p)
	}
	bad := strings.NewReplacer(
		`description: "Children aged 1 to 5 years; frontal chest films."`, `description: ""`,
		"{min: 1, max: 5}", "{min: 6, max: 5}",
		"views: [PA, AP]", "views: [PA, lateral]",
		"body_parts: [CHEST]", "body_parts: [' CHEST']",
		"planes: [axial]", "planes: [oblique]",
	).Replace(good)
	if m, err = ParseManifest([]byte(bad)); err != nil {
		t.Fatal(err)
	}
	err = m.Validate()
	for _, want := range []string{"population.description is missing", "min 6 is above max 5", `population.views[1] "lateral"`,
		`population.body_parts[0] " CHEST"`, `population.planes[0] "oblique"`} {
		if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q reported; got:\n%v", want, err)
		}
	}
	if m, err = ParseManifest([]byte(strings.Replace(good, "{min: 1, max: 5}", "{}", 1))); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "age_years needs min, max or both") {
		t.Errorf("an empty age range: %v", err)
	}
	g := string(readFixtureFiles(t, "tiny-gate")["model.yaml"]) + "population: {description: Adults.}\n"
	if m, err = ParseManifest([]byte(g)); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err == nil || !strings.Contains(err.Error(), "population is only meaningful for a classifier") {
		t.Errorf("a gate with a population: %v", err)
	}
}

// TestAgeRange: ages count in completed years, both ends included, either end open.
func TestAgeRange(t *testing.T) {
	one, five, eighteen := 1.0, 5.0, 18.0
	child := AgeRange{Min: &one, Max: &five}
	adult := AgeRange{Min: &eighteen}
	for _, c := range []struct {
		r     AgeRange
		years float64
		want  bool
	}{
		{child, 0.99, false}, {child, 1, true}, {child, 5.95, true}, {child, 6, false}, {child, 45, false},
		{adult, 17.9, false}, {adult, 18, true}, {adult, 99, true},
	} {
		if got := c.r.Contains(c.years); got != c.want {
			t.Errorf("%s contains %v = %v, want %v", c.r, c.years, got, c.want)
		}
	}
	if child.String() != "1 to 5 years" || adult.String() != "18 years or older" || (AgeRange{Max: &five}).String() != "up to 5 years" {
		t.Errorf("range sentences %q, %q", child, adult)
	}
}

// TestCatalogueGate: the gate is not a classifier; the last gate loaded decides (a --models gate replaces the
// bundled one), and a catalogue without one has none.
func TestCatalogueGate(t *testing.T) {
	fs := fstest.MapFS{}
	for _, id := range []string{"tiny-cam", "tiny-gate"} {
		for name, data := range readFixtureFiles(t, id) {
			fs[id+"/"+name] = &fstest.MapFile{Data: data}
		}
	}
	cat, err := LoadCatalogue(fs)
	if err != nil || len(cat.Problems) > 0 {
		t.Fatalf("catalogue: %v %v", err, cat.Problems)
	}
	if g := cat.Gate(); g == nil || g.Manifest.ID != "tiny-gate" {
		t.Fatalf("gate %v", g)
	}
	if cl := cat.Classifiers(); len(cl) != 1 || cl[0].Manifest.ID != "tiny-cam" {
		t.Fatalf("classifiers %v", cl)
	}
	delete(fs, "tiny-gate/model.yaml")
	if cat, _ = LoadCatalogue(fs); cat.Gate() != nil {
		t.Errorf("a catalogue without a gate returned %v", cat.Gate())
	}
}

// TestModelScopeCached: Model.Scope reads the statistics once and gives the same answer after; a model without
// them says ErrNoScope every time.
func TestModelScopeCached(t *testing.T) {
	m := loadFixture(t, "tiny-feat")
	a, err := m.Scope()
	if err != nil || a == nil {
		t.Fatalf("tiny-feat scope: %v", err)
	}
	if b, _ := m.Scope(); b != a {
		t.Error("a second call read the statistics again")
	}
	if _, err := loadFixture(t, "tiny-cam").Scope(); !errors.Is(err, ErrNoScope) {
		t.Errorf("tiny-cam has no statistics: %v", err)
	}
}
