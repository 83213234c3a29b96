package fakehttp

import "testing"

func TestFaultsTakeInOrderByPath(t *testing.T) {
	var q Faults[string]
	q.Add("/a", 2, "a")
	q.Add("", 1, "any")
	q.Add("/b", 1, "b")
	steps := []struct {
		path, want string
		ok         bool
	}{
		{"/b", "any", true}, // the first fault that matches: "" matches every path
		{"/b", "b", true},
		{"/b", "", false},
		{"/a", "a", true},
		{"/a", "a", true},
		{"/a", "", false},
	}
	for i, s := range steps {
		got, ok := q.Take(s.path)
		if got != s.want || ok != s.ok {
			t.Errorf("step %d: Take(%q) = %q, %v; want %q, %v", i, s.path, got, ok, s.want, s.ok)
		}
	}
}
