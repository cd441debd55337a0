package keycloak

// Enough of nginx's configuration syntax to run the compose file's
// nginx.conf files on loopback: parse, change a few directives, write back.
// Copied from deploy/nginx_test.go (a test package cannot import another's
// test files), trimmed to what rendering needs.

import (
	"fmt"
	"slices"
	"strings"
)

// ngxDirective is one directive of an nginx configuration: its name, its
// arguments, and the directives of its block if it has one.
type ngxDirective struct {
	name   string
	args   []string
	block  []*ngxDirective // nil for a simple directive
	parent *ngxDirective   // nil at the top level
}

// parseNginx parses the syntax of an nginx configuration: directives ending
// in ; or a {} block, # comments, quoted arguments. It does not follow include.
func parseNginx(src string) (*ngxDirective, error) {
	toks, err := ngxTokens(src)
	if err != nil {
		return nil, err
	}
	root := &ngxDirective{name: "main", block: []*ngxDirective{}}
	cur := root
	var words []string
	for _, tk := range toks {
		switch {
		case tk.punct && tk.text == ";":
			if len(words) == 0 {
				return nil, fmt.Errorf("line %d: unexpected ;", tk.line)
			}
			cur.block = append(cur.block, &ngxDirective{name: words[0], args: words[1:], parent: cur})
			words = nil
		case tk.punct && tk.text == "{":
			if len(words) == 0 {
				return nil, fmt.Errorf("line %d: block without a directive", tk.line)
			}
			d := &ngxDirective{name: words[0], args: words[1:], block: []*ngxDirective{}, parent: cur}
			cur.block = append(cur.block, d)
			cur, words = d, nil
		case tk.punct && tk.text == "}":
			if len(words) > 0 {
				return nil, fmt.Errorf("line %d: %q is missing its ;", tk.line, strings.Join(words, " "))
			}
			if cur == root {
				return nil, fmt.Errorf("line %d: unexpected }", tk.line)
			}
			cur = cur.parent
		default:
			words = append(words, tk.text)
		}
	}
	if len(words) > 0 {
		return nil, fmt.Errorf("%q is missing its ; at the end", strings.Join(words, " "))
	}
	if cur != root {
		return nil, fmt.Errorf("block %q is not closed", cur.name)
	}
	return root, nil
}

type ngxToken struct {
	text  string
	punct bool // ; { }
	line  int
}

func ngxTokens(src string) ([]ngxToken, error) {
	var toks []ngxToken
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
			toks = append(toks, ngxToken{string(c), true, line})
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
			toks = append(toks, ngxToken{b.String(), false, start})
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
			toks = append(toks, ngxToken{src[start:i], false, line})
		}
	}
	return toks, nil
}

// String renders the configuration d is the root of as nginx reads it.
func (d *ngxDirective) String() string {
	var b strings.Builder
	for _, c := range d.block {
		c.write(&b, 0)
	}
	return b.String()
}

func (d *ngxDirective) write(b *strings.Builder, depth int) {
	b.WriteString(strings.Repeat("    ", depth))
	b.WriteString(d.name)
	for _, a := range d.args {
		b.WriteByte(' ')
		b.WriteString(ngxQuote(a))
	}
	if d.block == nil {
		b.WriteString(";\n")
		return
	}
	b.WriteString(" {\n")
	for _, c := range d.block {
		c.write(b, depth+1)
	}
	b.WriteString(strings.Repeat("    ", depth) + "}\n")
}

// ngxQuote quotes an argument when nginx would otherwise split or misread it.
func ngxQuote(a string) string {
	if a != "" && !strings.ContainsAny(a, " \t\r\n;{}\"'#") {
		return a
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
}

// all is every directive called name in d's block.
func (d *ngxDirective) all(name string) []*ngxDirective {
	var out []*ngxDirective
	for _, c := range d.block {
		if c.name == name {
			out = append(out, c)
		}
	}
	return out
}

// walk is every directive below d, depth first, in file order.
func (d *ngxDirective) walk() []*ngxDirective {
	var out []*ngxDirective
	for _, c := range d.block {
		out = append(out, c)
		out = append(out, c.walk()...)
	}
	return out
}

// remove deletes d's directives called name.
func (d *ngxDirective) remove(name string) {
	d.block = slices.DeleteFunc(d.block, func(c *ngxDirective) bool { return c.name == name })
}

// set replaces d's directives called name by one with args (first in the
// block when there was none).
func (d *ngxDirective) set(name string, args ...string) {
	for i, c := range d.block {
		if c.name == name {
			d.remove(name)
			d.block = slices.Insert(d.block, min(i, len(d.block)), &ngxDirective{name: name, args: args, parent: d})
			return
		}
	}
	d.block = slices.Insert(d.block, 0, &ngxDirective{name: name, args: args, parent: d})
}
