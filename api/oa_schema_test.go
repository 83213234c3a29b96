package api_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// oaSchema is docs/oa-webhook/schema.json, compiled by a full JSON Schema
// (2020-12) validator, with the events its "event" property lists.
type oaSchema struct {
	schema *jsonschema.Schema
	events []string
}

func loadOASchema(t *testing.T) oaSchema {
	t.Helper()
	const path = "../docs/oa-webhook/schema.json"
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("schema.json", doc); err != nil {
		t.Fatal(err)
	}
	compiled, err := c.Compile("schema.json")
	if err != nil {
		t.Fatalf("%s does not compile: %v", path, err)
	}
	var top struct {
		Properties struct {
			Event struct {
				Enum []string `json:"enum"`
			} `json:"event"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(raw, &top); err != nil {
		t.Fatal(err)
	}
	if len(top.Properties.Event.Enum) == 0 {
		t.Fatal("the schema lists no events")
	}
	return oaSchema{schema: compiled, events: top.Properties.Event.Enum}
}

// check validates a document (as encoding/json decodes it) against the
// whole schema; nil means it follows it.
func (s oaSchema) check(doc map[string]any) error {
	// Round-trip through the validator's decoder, which keeps numbers exact.
	raw, err := json.Marshal(doc)
	if err != nil {
		return err
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return s.schema.Validate(v)
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
		if err := s.check(doc); err != nil || doc["event"] != event {
			t.Errorf("example %s (event %v): %v", event, doc["event"], err)
		}
	}
	// The validator does refuse: a document missing its ticket fails.
	raw, _ := os.ReadFile(filepath.Join("../docs/oa-webhook/examples", s.events[0]+".json"))
	var doc map[string]any
	_ = json.Unmarshal(raw, &doc)
	delete(doc, "ticket")
	if s.check(doc) == nil {
		t.Error("a document without its ticket passes the schema")
	}
}
