package api_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

type oaSchema struct {
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
	events     []string
}

func loadOASchema(t *testing.T) oaSchema {
	t.Helper()
	raw, err := os.ReadFile("../docs/oa-webhook/schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var s oaSchema
	if err := json.Unmarshal(raw, &s); err != nil {
		t.Fatal(err)
	}
	var ev struct {
		Enum []string `json:"enum"`
	}
	if err := json.Unmarshal(s.Properties["event"], &ev); err != nil {
		t.Fatal(err)
	}
	s.events = ev.Enum
	return s
}

// check reports what of doc breaks the schema's top level.
func (s oaSchema) check(doc map[string]any) []string {
	var problems []string
	for _, k := range s.Required {
		if _, ok := doc[k]; !ok {
			problems = append(problems, "missing "+k)
		}
	}
	for k := range doc {
		if _, ok := s.Properties[k]; !ok {
			problems = append(problems, "unknown property "+k)
		}
	}
	if e, _ := doc["event"].(string); !slices.Contains(s.events, e) {
		problems = append(problems, "unknown event "+e)
	}
	return problems
}

// TestOAExamplesFollowTheSchema keeps docs/oa-webhook honest: there is an
// example for every event, and each follows the schema.
func TestOAExamplesFollowTheSchema(t *testing.T) {
	s := loadOASchema(t)
	for _, event := range s.events {
		raw, err := os.ReadFile(filepath.Join("../docs/oa-webhook/examples", event+".json"))
		if err != nil {
			t.Errorf("no example for %s: %v", event, err)
			continue
		}
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s: %v", event, err)
		}
		if p := s.check(doc); len(p) > 0 || doc["event"] != event {
			t.Errorf("example %s: %s (event %v)", event, strings.Join(p, ", "), doc["event"])
		}
	}
}
