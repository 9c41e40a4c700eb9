// Command template-golden regenerates the expected outputs of the template
// test cases of connectors-core with Go's own text/template.
//
// Each case file is a JSON array of cases. The hand-written fields are name,
// template (a string, or a list of lines joined with "\n"), templateName,
// data, error, differs and ours; this program fills in expected (the output
// Go renders) or goError (the error Go reports) and writes the file back.
//
// Usage:
//
//	go run . [-check] [file-or-directory ...]
//
// Without arguments it processes every *.json file in
// ../../crates/connectors-core/tests/template_cases. With -check it writes
// nothing and exits with status 1 when a file would change.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

// defaultDir is where the case files live, relative to this directory.
const defaultDir = "../../crates/connectors-core/tests/template_cases"

// defaultTemplateName names a case's template when the case does not.
const defaultTemplateName = "tpl"

// runs is how many times each case is rendered; differing results mean the
// case depends on Go's random map order and cannot be a golden case.
const runs = 5

// Case is one template case. Field order here is the order in the file.
type Case struct {
	Name         string          `json:"name"`
	TemplateName string          `json:"templateName,omitempty"`
	Template     json.RawMessage `json:"template"`
	Data         json.RawMessage `json:"data,omitempty"`
	Error        string          `json:"error,omitempty"`
	Differs      string          `json:"differs,omitempty"`
	Ours         *string         `json:"ours,omitempty"`
	Expected     *string         `json:"expected,omitempty"`
	GoError      string          `json:"goError,omitempty"`
}

func main() {
	check := flag.Bool("check", false, "report files that would change instead of writing them")
	flag.Parse()
	paths := flag.Args()
	if len(paths) == 0 {
		paths = []string{defaultDir}
	}
	files, err := caseFiles(paths)
	if err != nil {
		fail(err)
	}
	changed := 0
	for _, file := range files {
		differs, err := processFile(file, *check)
		if err != nil {
			fail(fmt.Errorf("%s: %w", file, err))
		}
		if differs {
			changed++
			if *check {
				fmt.Printf("%s: out of date\n", file)
			} else {
				fmt.Printf("%s: updated\n", file)
			}
		}
	}
	if *check && changed > 0 {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "template-golden:", err)
	os.Exit(2)
}

// caseFiles expands directories to the *.json files in them, sorted.
func caseFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !info.IsDir() {
			files = append(files, p)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(p, "*.json"))
		if err != nil {
			return nil, err
		}
		sort.Strings(matches)
		files = append(files, matches...)
	}
	return files, nil
}

func processFile(file string, check bool) (bool, error) {
	original, err := os.ReadFile(file)
	if err != nil {
		return false, err
	}
	var cases []Case
	if err := json.Unmarshal(original, &cases); err != nil {
		return false, err
	}
	seen := map[string]bool{}
	for i := range cases {
		c := &cases[i]
		if c.Name == "" {
			return false, fmt.Errorf("case %d has no name", i)
		}
		if seen[c.Name] {
			return false, fmt.Errorf("case name %q is used twice", c.Name)
		}
		seen[c.Name] = true
		if err := runCase(c); err != nil {
			return false, fmt.Errorf("case %q: %w", c.Name, err)
		}
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(cases); err != nil {
		return false, err
	}
	if bytes.Equal(out.Bytes(), original) {
		return false, nil
	}
	if check {
		return true, nil
	}
	return true, os.WriteFile(file, out.Bytes(), 0o644)
}

// templateText accepts a string or a list of lines.
func templateText(raw json.RawMessage) (string, error) {
	var text string
	if err := json.Unmarshal(raw, &text); err == nil {
		return text, nil
	}
	var lines []string
	if err := json.Unmarshal(raw, &lines); err != nil {
		return "", fmt.Errorf("template must be a string or a list of lines")
	}
	return strings.Join(lines, "\n"), nil
}

func runCase(c *Case) error {
	text, err := templateText(c.Template)
	if err != nil {
		return err
	}
	name := c.TemplateName
	if name == "" {
		name = defaultTemplateName
	}
	var first string
	var firstErr string
	for run := 0; run < runs; run++ {
		output, errText := render(name, text, c.Data)
		if run == 0 {
			first, firstErr = output, errText
			continue
		}
		if output != first || errText != firstErr {
			return fmt.Errorf("renders differently from run to run (map order?)")
		}
	}
	c.Expected = nil
	c.GoError = ""
	if firstErr != "" {
		c.GoError = firstErr
	} else {
		c.Expected = &first
	}
	return nil
}

// render parses and executes one template the way the original system does:
// text/template plus the Sprig functions, data decoded from JSON into Go's
// generic types (objects become map[string]any, numbers float64).
func render(name, text string, rawData json.RawMessage) (string, string) {
	var data any = map[string]any{}
	if len(rawData) > 0 {
		data = nil
		if err := json.Unmarshal(rawData, &data); err != nil {
			return "", "bad data: " + err.Error()
		}
	}
	tmpl, err := template.New(name).Funcs(sprigFuncs()).Parse(text)
	if err != nil {
		return "", err.Error()
	}
	var out strings.Builder
	if err := tmpl.Execute(&out, data); err != nil {
		return "", err.Error()
	}
	return out.String(), ""
}
