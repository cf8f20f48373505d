package kubelet

import (
	"errors"
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// maxNestingDepth is encoding/json's limit (scanner.go, maxNestingDepth), kept so that both
// decoders reject the same inputs.
const maxNestingDepth = 10000

var errTypeMismatch = errors.New("value of the wrong JSON type")

// scanner is a validating JSON reader over one complete body. It accepts exactly the syntax that
// encoding/json accepts (RFC 8259, invalid UTF-8 inside strings tolerated and replaced on
// unquoting) and can skip a value without allocating.
type scanner struct {
	data  []byte
	pos   int
	depth int
	name  []byte // an unquoted member name, reused
}

func (s *scanner) syntaxError(what string) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", s.pos, what)
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.skipSpace()
	if s.pos >= len(s.data) {
		return 0
	}
	return s.data[s.pos]
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.syntaxError(fmt.Sprintf("expected %q", c))
	}
	s.pos++
	return nil
}

// readString consumes a string and returns its raw content between the quotes, and whether it
// holds escapes or bytes that unquoting would change.
func (s *scanner) readString() (raw []byte, plain bool, err error) {
	if s.peek() != '"' {
		return nil, false, s.syntaxError("expected a string")
	}
	s.pos++
	start, plain := s.pos, true
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			raw = s.data[start:s.pos]
			s.pos++
			return raw, plain, nil
		case c == '\\':
			plain = false
			if s.pos+1 >= len(s.data) {
				return nil, false, s.syntaxError("unterminated escape")
			}
			switch s.data[s.pos+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos += 2
			case 'u':
				if s.pos+6 > len(s.data) || hex4(s.data[s.pos+2:s.pos+6]) < 0 {
					return nil, false, s.syntaxError("invalid \\u escape")
				}
				s.pos += 6
			default:
				return nil, false, s.syntaxError("invalid escape")
			}
		case c < 0x20:
			return nil, false, s.syntaxError("control character in string")
		case c >= utf8.RuneSelf:
			plain = false
			s.pos++
		default:
			s.pos++
		}
	}
	return nil, false, s.syntaxError("unterminated string")
}

func hex4(b []byte) rune {
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// appendUnquoted appends the string a validated raw string stands for, with encoding/json's
// replacements: invalid UTF-8 and unpaired surrogates become U+FFFD.
func appendUnquoted(dst, raw []byte) []byte {
	for i := 0; i < len(raw); {
		c := raw[i]
		if c == '\\' {
			switch raw[i+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				r := hex4(raw[i+2:])
				i += 6
				if utf16.IsSurrogate(r) {
					if i+6 <= len(raw) && raw[i] == '\\' && raw[i+1] == 'u' {
						if pair := utf16.DecodeRune(r, hex4(raw[i+2:])); pair != unicode.ReplacementChar {
							dst = utf8.AppendRune(dst, pair)
							i += 6
							continue
						}
					}
					r = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, r)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, raw[i+1])
			}
			i += 2
			continue
		}
		if c < utf8.RuneSelf {
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && size == 1 {
			dst = utf8.AppendRune(dst, unicode.ReplacementChar)
		} else {
			dst = append(dst, raw[i:i+size]...)
		}
		i += size
	}
	return dst
}

// readNumber consumes a number and returns its text.
func (s *scanner) readNumber() ([]byte, error) {
	start := s.pos
	d := s.data
	i := s.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && '1' <= d[i] && d[i] <= '9':
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	default:
		s.pos = i
		return nil, s.syntaxError("invalid number")
	}
	if i < len(d) && d[i] == '.' {
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return nil, s.syntaxError("invalid number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			s.pos = i
			return nil, s.syntaxError("invalid number")
		}
		for i < len(d) && '0' <= d[i] && d[i] <= '9' {
			i++
		}
	}
	s.pos = i
	return d[start:i], nil
}

func (s *scanner) readLiteral(lit string) error {
	if len(s.data)-s.pos < len(lit) || string(s.data[s.pos:s.pos+len(lit)]) != lit {
		return s.syntaxError("invalid literal")
	}
	s.pos += len(lit)
	return nil
}

func (s *scanner) enter() error {
	s.depth++
	if s.depth > maxNestingDepth {
		return s.syntaxError("exceeded max depth")
	}
	return nil
}

// skipValue consumes and validates one value of any type.
func (s *scanner) skipValue() error {
	switch c := s.peek(); {
	case c == '{':
		return s.skipContainer('{', '}')
	case c == '[':
		return s.skipContainer('[', ']')
	case c == '"':
		_, _, err := s.readString()
		return err
	case c == 't':
		return s.readLiteral("true")
	case c == 'f':
		return s.readLiteral("false")
	case c == 'n':
		return s.readLiteral("null")
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := s.readNumber()
		return err
	case c == 0:
		return s.syntaxError("unexpected end of input")
	default:
		return s.syntaxError(fmt.Sprintf("invalid character %q", c))
	}
}

// skipContainer consumes an object or an array.
func (s *scanner) skipContainer(open, closing byte) error {
	s.pos++ // open
	if err := s.enter(); err != nil {
		return err
	}
	if s.peek() == closing {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if open == '{' {
			if _, _, err := s.readString(); err != nil {
				return err
			}
			if err := s.expect(':'); err != nil {
				return err
			}
		}
		if err := s.skipValue(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case closing:
			s.pos++
			s.depth--
			return nil
		default:
			return s.syntaxError(fmt.Sprintf("expected ',' or %q", closing))
		}
	}
}

// object consumes an object, calling member for each name with the scanner positioned at the
// member's value. The name is valid only until member consumes the value.
func (s *scanner) object(member func(name []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		raw, plain, err := s.readString()
		if err != nil {
			return err
		}
		name := raw
		if !plain {
			s.name = appendUnquoted(s.name[:0], raw)
			name = s.name
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(name); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			s.depth--
			return nil
		default:
			return s.syntaxError("expected ',' or '}'")
		}
	}
}

// array consumes an array, calling element with the scanner positioned at each element.
func (s *scanner) array(element func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if err := s.enter(); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.pos++
		s.depth--
		return nil
	}
	for {
		if err := element(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.pos++
		case ']':
			s.pos++
			s.depth--
			return nil
		default:
			return s.syntaxError("expected ',' or ']'")
		}
	}
}

// parseUint reads a JSON number as encoding/json stores it in a uint64: digits only, no sign,
// fraction or exponent, no overflow (decode.go, literalStore).
func parseUint(num []byte) (uint64, error) {
	for _, c := range num {
		if c < '0' || c > '9' {
			return 0, errTypeMismatch
		}
	}
	n, err := strconv.ParseUint(string(num), 10, 64)
	if err != nil {
		return 0, errTypeMismatch
	}
	return n, nil
}

// nameIs reports whether an object member name selects a field, as encoding/json matches names:
// exactly, or else equal under its case folding (fold.go, foldName: ASCII upper case, other runes
// to the smallest rune of their unicode.SimpleFold orbit). Field names are ASCII.
func nameIs(name []byte, field string) bool {
	if string(name) == field {
		return true
	}
	j := 0
	for i := 0; i < len(name); {
		if j >= len(field) {
			return false
		}
		want := upperASCII(field[j])
		if c := name[i]; c < utf8.RuneSelf {
			if upperASCII(c) != want {
				return false
			}
			i++
		} else {
			r, size := utf8.DecodeRune(name[i:])
			if foldRune(r) != rune(want) {
				return false
			}
			i += size
		}
		j++
	}
	return j == len(field)
}

func upperASCII(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}

func foldRune(r rune) rune {
	for {
		next := unicode.SimpleFold(r)
		if next <= r {
			return next
		}
		r = next
	}
}
