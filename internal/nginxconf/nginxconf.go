// Package nginxconf reads and writes enough of nginx's configuration
// syntax for the tests that check deploy/'s nginx configurations and run
// them on loopback: directives ending in ; or a {} block, # comments,
// quoted arguments. It does not follow include. It is test support, like
// internal/testprovider: rp itself never reads an nginx configuration.
package nginxconf

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Directive is one directive of an nginx configuration: its name, its
// arguments, and the directives of its block if it has one.
type Directive struct {
	Name   string
	Args   []string
	Block  []*Directive // nil for a simple directive
	Parent *Directive   // nil at the top level
}

// All is every directive called name in d's block.
func (d *Directive) All(name string) []*Directive {
	var out []*Directive
	for _, c := range d.Block {
		if c.Name == name {
			out = append(out, c)
		}
	}
	return out
}

// Inherited is the directives called name that apply in d's block, as nginx
// inherits them: those of the innermost enclosing level that has any.
func (d *Directive) Inherited(name string) []*Directive {
	for level := d; level != nil; level = level.Parent {
		if found := level.All(name); len(found) > 0 {
			return found
		}
	}
	return nil
}

// Parse parses the syntax of an nginx configuration: directives ending
// in ; or a {} block, # comments, quoted arguments. It does not follow include.
func Parse(src string) (*Directive, error) {
	toks, err := tokens(src)
	if err != nil {
		return nil, err
	}
	root := &Directive{Name: "main", Block: []*Directive{}}
	cur := root
	var words []string
	for _, tk := range toks {
		switch {
		case tk.punct && tk.text == ";":
			if len(words) == 0 {
				return nil, fmt.Errorf("line %d: unexpected ;", tk.line)
			}
			cur.Block = append(cur.Block, &Directive{Name: words[0], Args: words[1:], Parent: cur})
			words = nil
		case tk.punct && tk.text == "{":
			if len(words) == 0 {
				return nil, fmt.Errorf("line %d: block without a directive", tk.line)
			}
			d := &Directive{Name: words[0], Args: words[1:], Block: []*Directive{}, Parent: cur}
			cur.Block = append(cur.Block, d)
			cur, words = d, nil
		case tk.punct && tk.text == "}":
			if len(words) > 0 {
				return nil, fmt.Errorf("line %d: %q is missing its ;", tk.line, strings.Join(words, " "))
			}
			if cur == root {
				return nil, fmt.Errorf("line %d: unexpected }", tk.line)
			}
			cur = cur.Parent
		default:
			words = append(words, tk.text)
		}
	}
	if len(words) > 0 {
		return nil, fmt.Errorf("%q is missing its ; at the end", strings.Join(words, " "))
	}
	if cur != root {
		return nil, fmt.Errorf("block %q is not closed", cur.Name)
	}
	return root, nil
}

type token struct {
	text  string
	punct bool // ; { }
	line  int
}

func tokens(src string) ([]token, error) {
	var toks []token
	line := 1
	for i := 0; i < len(src); {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == ' ' || c == '\t' || c == '\r':
			i++
		case c == '#':
			for i < len(src) && src[i] != '\n' {
				i++
			}
		case c == ';' || c == '{' || c == '}':
			toks = append(toks, token{string(c), true, line})
			i++
		case c == '"' || c == '\'':
			start := line
			var b strings.Builder
			for i++; ; i++ {
				if i >= len(src) {
					return nil, fmt.Errorf("line %d: unterminated %c", start, c)
				}
				if src[i] == '\\' && i+1 < len(src) {
					i++
					b.WriteByte(src[i])
					continue
				}
				if src[i] == c {
					i++
					break
				}
				if src[i] == '\n' {
					line++
				}
				b.WriteByte(src[i])
			}
			toks = append(toks, token{b.String(), false, start})
		default:
			start := i
			for i < len(src) && !strings.ContainsRune(" \t\r\n;{}", rune(src[i])) {
				if src[i] == '$' && i+1 < len(src) && src[i+1] == '{' { // ${var}
					if j := strings.IndexByte(src[i:], '}'); j > 0 {
						i += j
					}
				}
				i++
			}
			toks = append(toks, token{src[start:i], false, line})
		}
	}
	return toks, nil
}

// Duration parses an nginx time such as 75s, 1m30s, 500ms or 60 (seconds).
func Duration(s string) (time.Duration, error) {
	if !regexp.MustCompile(`^(\d+(ms|s|m|h|d)?)+$`).MatchString(s) {
		return 0, fmt.Errorf("%q is not an nginx time", s)
	}
	units := map[string]time.Duration{"ms": time.Millisecond, "": time.Second, "s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	var d time.Duration
	for _, p := range regexp.MustCompile(`(\d+)(ms|s|m|h|d)?`).FindAllStringSubmatch(s, -1) {
		n, err := strconv.Atoi(p[1])
		if err != nil {
			return 0, err
		}
		d += time.Duration(n) * units[p[2]]
	}
	return d, nil
}

// String renders d as nginx reads it: the main context's directives, or d
// itself with its block. Arguments are quoted where nginx needs quotes.
func (d *Directive) String() string {
	var b strings.Builder
	if d.Parent == nil {
		for _, c := range d.Block {
			c.write(&b, 0)
		}
		return b.String()
	}
	d.write(&b, 0)
	return b.String()
}

func (d *Directive) write(b *strings.Builder, depth int) {
	b.WriteString(strings.Repeat("    ", depth))
	b.WriteString(d.Name)
	for _, a := range d.Args {
		b.WriteByte(' ')
		b.WriteString(Quote(a))
	}
	if d.Block == nil {
		b.WriteString(";\n")
		return
	}
	b.WriteString(" {\n")
	for _, c := range d.Block {
		c.write(b, depth+1)
	}
	b.WriteString(strings.Repeat("    ", depth) + "}\n")
}

// Quote quotes an argument when nginx would otherwise split or misread it.
func Quote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\r\n;{}\"'#") {
		return a // backslashes of a regex stay as written
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
}

// Walk is every directive below d, depth first, in file order.
func (d *Directive) Walk() []*Directive {
	var out []*Directive
	for _, c := range d.Block {
		out = append(out, c)
		out = append(out, c.Walk()...)
	}
	return out
}

// Location is d's location block whose arguments are args ("/", or "=", "/x"), or nil.
func (d *Directive) Location(args ...string) *Directive {
	for _, l := range d.All("location") {
		if slices.Equal(l.Args, args) {
			return l
		}
	}
	return nil
}

// Arg is the first argument of the one directive called name in d's
// block, or "" when there is none.
func (d *Directive) Arg(name string) string {
	if found := d.All(name); len(found) == 1 && len(found[0].Args) > 0 {
		return found[0].Args[0]
	}
	return ""
}

// SetHeaders is what proxy_set_header sends to the upstream from d's block,
// as nginx inherits it, by lower-case header name.
func (d *Directive) SetHeaders() map[string]string {
	set := map[string]string{}
	for _, h := range d.Inherited("proxy_set_header") {
		if len(h.Args) == 2 {
			set[strings.ToLower(h.Args[0])] = h.Args[1]
		}
	}
	return set
}

// Remove deletes d's directives called name.
func (d *Directive) Remove(name string) {
	d.Block = slices.DeleteFunc(d.Block, func(c *Directive) bool { return c.Name == name })
}

// Set replaces d's directives called name by one with args (first in the
// block when there was none).
func (d *Directive) Set(name string, args ...string) {
	for i, c := range d.Block {
		if c.Name == name {
			d.Remove(name)
			d.Block = slices.Insert(d.Block, min(i, len(d.Block)), &Directive{Name: name, Args: args, Parent: d})
			return
		}
	}
	d.Block = slices.Insert(d.Block, 0, &Directive{Name: name, Args: args, Parent: d})
}

// --- the forward-auth nginx of profile app ---
