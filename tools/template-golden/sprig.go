package main

// The Sprig functions that class templates may use, written against Sprig's
// documented semantics and signatures (argument order, parameter types, what
// panics and what returns a zero value). The parameter types matter: Go's
// text/template converts and checks arguments against them, so a string
// parameter refuses a number or a missing key exactly as it would with the
// real library.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"unicode"
)

func sprigFuncs() template.FuncMap {
	return template.FuncMap{
		// defaults
		"default":  dfault,
		"empty":    empty,
		"coalesce": coalesce,
		"ternary":  ternary,
		// strings
		"trim":       strings.TrimSpace,
		"trimAll":    func(a, b string) string { return strings.Trim(b, a) },
		"trimSuffix": func(a, b string) string { return strings.TrimSuffix(b, a) },
		"trimPrefix": func(a, b string) string { return strings.TrimPrefix(b, a) },
		"upper":      strings.ToUpper,
		"lower":      strings.ToLower,
		"title":      title,
		"replace":    func(old, new, src string) string { return strings.Replace(src, old, new, -1) },
		"repeat":     func(count int, str string) string { return strings.Repeat(str, count) },
		"contains":   func(substr string, str string) bool { return strings.Contains(str, substr) },
		"hasPrefix":  func(substr string, str string) bool { return strings.HasPrefix(str, substr) },
		"hasSuffix":  func(substr string, str string) bool { return strings.HasSuffix(str, substr) },
		"substr":     substring,
		"trunc":      trunc,
		"indent":     indent,
		"nindent":    func(spaces int, v string) string { return "\n" + indent(spaces, v) },
		"quote":      quote,
		"squote":     squote,
		"cat":        cat,
		"split":      split,
		"splitn":     splitn,
		"splitList":  func(sep, orig string) []string { return strings.Split(orig, sep) },
		"nospace":    nospace,
		"join":       join,
		"sortAlpha":  sortAlpha,
		// lists
		"list":    list,
		"first":   first,
		"last":    last,
		"rest":    rest,
		"initial": initial,
		"append":  push,
		"push":    push,
		"prepend": prepend,
		"concat":  concat,
		"uniq":    uniq,
		"has":     has,
		"without": without,
		"compact": compact,
		"reverse": reverse,
		"until":   until,
		// dicts
		"dict":   dict,
		"get":    get,
		"set":    set,
		"unset":  unset,
		"hasKey": hasKey,
		"keys":   keys,
		"values": values,
		"pick":   pick,
		"omit":   omit,
		"merge":  merge,
		// encoding
		"toJson":       toJson,
		"toPrettyJson": toPrettyJson,
		"fromJson":     fromJson,
		"b64enc":       func(v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) },
		"b64dec":       b64dec,
		// regular expressions
		"regexMatch":      regexMatch,
		"regexReplaceAll": regexReplaceAll,
		// conversions
		"toString": strval,
		"int":      func(v interface{}) int { return int(toInt64(v)) },
		"atoi":     func(a string) int { i, _ := strconv.Atoi(a); return i },
		// arithmetic
		"add": add,
		"sub": func(a, b interface{}) int64 { return toInt64(a) - toInt64(b) },
		"mul": mul,
		"div": func(a, b interface{}) int64 { return toInt64(a) / toInt64(b) },
		"mod": func(a, b interface{}) int64 { return toInt64(a) % toInt64(b) },
		"max": max,
		"min": min,
		// URLs
		"urlParse": urlParse,
		"urlJoin":  urlJoin,
	}
}

// ---- conversions ----

func strval(v interface{}) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case error:
		return v.Error()
	case fmt.Stringer:
		return v.String()
	default:
		return fmt.Sprintf("%v", v)
	}
}

func strslice(v interface{}) []string {
	switch v := v.(type) {
	case []string:
		return v
	case []interface{}:
		b := make([]string, 0, len(v))
		for _, s := range v {
			if s != nil {
				b = append(b, strval(s))
			}
		}
		return b
	default:
		val := reflect.ValueOf(v)
		switch val.Kind() {
		case reflect.Array, reflect.Slice:
			l := val.Len()
			b := make([]string, 0, l)
			for i := 0; i < l; i++ {
				value := val.Index(i).Interface()
				if value != nil {
					b = append(b, strval(value))
				}
			}
			return b
		default:
			if v == nil {
				return []string{}
			}
			return []string{strval(v)}
		}
	}
}

// trimZeroDecimal drops a ".000" tail so "3.0" reads as an integer.
func trimZeroDecimal(s string) string {
	foundZero := false
	for i := len(s); i > 0; i-- {
		switch s[i-1] {
		case '.':
			if foundZero {
				return s[:i-1]
			}
		case '0':
			foundZero = true
		default:
			return s
		}
	}
	return s
}

// toInt64 converts the way Sprig's cast-based conversion does, with 0 for
// anything it cannot read.
func toInt64(v interface{}) int64 {
	switch s := v.(type) {
	case int:
		return int64(s)
	case int64:
		return s
	case int32:
		return int64(s)
	case uint:
		return int64(s)
	case uint64:
		return int64(s)
	case float64:
		return int64(s)
	case float32:
		return int64(s)
	case string:
		n, err := strconv.ParseInt(trimZeroDecimal(s), 0, 0)
		if err == nil {
			return n
		}
		return 0
	case bool:
		if s {
			return 1
		}
		return 0
	default:
		return 0
	}
}

// ---- defaults ----

func empty(given interface{}) bool {
	g := reflect.ValueOf(given)
	if !g.IsValid() {
		return true
	}
	switch g.Kind() {
	default:
		return g.IsNil()
	case reflect.Array, reflect.Slice, reflect.Map, reflect.String:
		return g.Len() == 0
	case reflect.Bool:
		return !g.Bool()
	case reflect.Complex64, reflect.Complex128:
		return g.Complex() == 0
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return g.Int() == 0
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return g.Uint() == 0
	case reflect.Float32, reflect.Float64:
		return g.Float() == 0
	case reflect.Struct:
		return false
	}
}

func dfault(d interface{}, given ...interface{}) interface{} {
	if empty(given) || empty(given[0]) {
		return d
	}
	return given[0]
}

func coalesce(v ...interface{}) interface{} {
	for _, val := range v {
		if !empty(val) {
			return val
		}
	}
	return nil
}

func ternary(vt interface{}, vf interface{}, v bool) interface{} {
	if v {
		return vt
	}
	return vf
}

// ---- strings ----

func isTitleSeparator(r rune) bool {
	if r <= 0x7F {
		switch {
		case '0' <= r && r <= '9':
			return false
		case 'a' <= r && r <= 'z':
			return false
		case 'A' <= r && r <= 'Z':
			return false
		case r == '_':
			return false
		}
		return true
	}
	if unicode.IsLetter(r) || unicode.IsDigit(r) {
		return false
	}
	return unicode.IsSpace(r)
}

// title is strings.Title, which Sprig uses.
func title(s string) string {
	prev := ' '
	return strings.Map(func(r rune) rune {
		if isTitleSeparator(prev) {
			prev = r
			return unicode.ToTitle(r)
		}
		prev = r
		return r
	}, s)
}

func substring(start, end int, s string) string {
	if start < 0 {
		return s[:end]
	}
	if end < 0 || end > len(s) {
		return s[start:]
	}
	return s[start:end]
}

func trunc(c int, s string) string {
	if c < 0 && len(s)+c > 0 {
		return s[len(s)+c:]
	}
	if c >= 0 && len(s) > c {
		return s[:c]
	}
	return s
}

func indent(spaces int, v string) string {
	pad := strings.Repeat(" ", spaces)
	return pad + strings.Replace(v, "\n", "\n"+pad, -1)
}

func quote(str ...interface{}) string {
	out := make([]string, 0, len(str))
	for _, s := range str {
		if s != nil {
			out = append(out, fmt.Sprintf("%q", strval(s)))
		}
	}
	return strings.Join(out, " ")
}

func squote(str ...interface{}) string {
	out := make([]string, 0, len(str))
	for _, s := range str {
		if s != nil {
			out = append(out, fmt.Sprintf("'%v'", s))
		}
	}
	return strings.Join(out, " ")
}

func cat(v ...interface{}) string {
	kept := make([]interface{}, 0, len(v))
	for _, e := range v {
		if e != nil {
			kept = append(kept, e)
		}
	}
	r := strings.TrimSpace(strings.Repeat("%v ", len(kept)))
	return fmt.Sprintf(r, kept...)
}

func split(sep, orig string) map[string]string {
	parts := strings.Split(orig, sep)
	res := make(map[string]string, len(parts))
	for i, v := range parts {
		res["_"+strconv.Itoa(i)] = v
	}
	return res
}

func splitn(sep string, n int, orig string) map[string]string {
	parts := strings.SplitN(orig, sep, n)
	res := make(map[string]string, len(parts))
	for i, v := range parts {
		res["_"+strconv.Itoa(i)] = v
	}
	return res
}

func nospace(str string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsSpace(r) {
			return -1
		}
		return r
	}, str)
}

func join(sep string, v interface{}) string {
	return strings.Join(strslice(v), sep)
}

func sortAlpha(list interface{}) []string {
	k := reflect.Indirect(reflect.ValueOf(list)).Kind()
	switch k {
	case reflect.Slice, reflect.Array:
		a := strslice(list)
		s := sort.StringSlice(a)
		s.Sort()
		return s
	}
	return []string{strval(list)}
}

// ---- lists ----

func list(v ...interface{}) []interface{} {
	return v
}

// listValue panics the way Sprig does when the argument is not a list.
func listValue(what string, l interface{}) reflect.Value {
	tp := reflect.TypeOf(l).Kind()
	switch tp {
	case reflect.Slice, reflect.Array:
		return reflect.ValueOf(l)
	default:
		panic(fmt.Sprintf("Cannot %s on type %s", what, tp))
	}
}

func first(l interface{}) interface{} {
	v := listValue("find first", l)
	if v.Len() == 0 {
		return nil
	}
	return v.Index(0).Interface()
}

func last(l interface{}) interface{} {
	v := listValue("find last", l)
	if v.Len() == 0 {
		return nil
	}
	return v.Index(v.Len() - 1).Interface()
}

func rest(l interface{}) interface{} {
	v := listValue("find rest", l)
	if v.Len() == 0 {
		return nil
	}
	return v.Slice(1, v.Len()).Interface()
}

func initial(l interface{}) interface{} {
	v := listValue("find initial", l)
	if v.Len() == 0 {
		return nil
	}
	return v.Slice(0, v.Len()-1).Interface()
}

func toInterfaces(v reflect.Value) []interface{} {
	out := make([]interface{}, v.Len())
	for i := 0; i < v.Len(); i++ {
		out[i] = v.Index(i).Interface()
	}
	return out
}

func push(l interface{}, v interface{}) []interface{} {
	return append(toInterfaces(listValue("push", l)), v)
}

func prepend(l interface{}, v interface{}) []interface{} {
	return append([]interface{}{v}, toInterfaces(listValue("prepend", l))...)
}

func concat(lists ...interface{}) interface{} {
	var res []interface{}
	for _, l := range lists {
		tp := reflect.TypeOf(l).Kind()
		switch tp {
		case reflect.Slice, reflect.Array:
			res = append(res, toInterfaces(reflect.ValueOf(l))...)
		default:
			panic(fmt.Sprintf("Cannot concat type %s as list", tp))
		}
	}
	return res
}

func inList(haystack []interface{}, needle interface{}) bool {
	for _, h := range haystack {
		if reflect.DeepEqual(needle, h) {
			return true
		}
	}
	return false
}

func uniq(l interface{}) []interface{} {
	dest := []interface{}{}
	for _, item := range toInterfaces(listValue("uniq", l)) {
		if !inList(dest, item) {
			dest = append(dest, item)
		}
	}
	return dest
}

func has(needle interface{}, haystack interface{}) bool {
	if haystack == nil {
		return false
	}
	return inList(toInterfaces(listValue("find has", haystack)), needle)
}

func without(l interface{}, omit ...interface{}) []interface{} {
	res := []interface{}{}
	for _, item := range toInterfaces(listValue("find without", l)) {
		if !inList(omit, item) {
			res = append(res, item)
		}
	}
	return res
}

func compact(l interface{}) []interface{} {
	res := []interface{}{}
	for _, item := range toInterfaces(listValue("compact", l)) {
		if !empty(item) {
			res = append(res, item)
		}
	}
	return res
}

func reverse(l interface{}) []interface{} {
	items := toInterfaces(listValue("find reverse", l))
	n := len(items)
	res := make([]interface{}, n)
	for i, item := range items {
		res[n-i-1] = item
	}
	return res
}

func until(count int) []int {
	step := 1
	if count < 0 {
		step = -1
	}
	v := []int{}
	if count < 0 {
		for i := 0; i > count; i += step {
			v = append(v, i)
		}
		return v
	}
	for i := 0; i < count; i += step {
		v = append(v, i)
	}
	return v
}

// ---- dicts ----

func dict(v ...interface{}) map[string]interface{} {
	d := map[string]interface{}{}
	for i := 0; i < len(v); i += 2 {
		key := strval(v[i])
		if i+1 >= len(v) {
			d[key] = ""
			continue
		}
		d[key] = v[i+1]
	}
	return d
}

func get(d map[string]interface{}, key string) interface{} {
	if val, ok := d[key]; ok {
		return val
	}
	return ""
}

func set(d map[string]interface{}, key string, value interface{}) map[string]interface{} {
	d[key] = value
	return d
}

func unset(d map[string]interface{}, key string) map[string]interface{} {
	delete(d, key)
	return d
}

func hasKey(d map[string]interface{}, key string) bool {
	_, ok := d[key]
	return ok
}

func keys(dicts ...map[string]interface{}) []string {
	k := []string{}
	for _, d := range dicts {
		for key := range d {
			k = append(k, key)
		}
	}
	return k
}

func values(d map[string]interface{}) []interface{} {
	v := []interface{}{}
	for _, value := range d {
		v = append(v, value)
	}
	return v
}

func pick(d map[string]interface{}, keys ...string) map[string]interface{} {
	res := map[string]interface{}{}
	for _, k := range keys {
		if v, ok := d[k]; ok {
			res[k] = v
		}
	}
	return res
}

func omit(d map[string]interface{}, keys ...string) map[string]interface{} {
	res := map[string]interface{}{}
	skip := make(map[string]bool, len(keys))
	for _, k := range keys {
		skip[k] = true
	}
	for k, v := range d {
		if !skip[k] {
			res[k] = v
		}
	}
	return res
}

// merge follows mergo.Merge without overwrite, which Sprig uses: a key of a
// source is taken when the destination lacks it or holds an empty value, two
// maps under the same key merge recursively, anything else stays.
func merge(dst map[string]interface{}, srcs ...map[string]interface{}) interface{} {
	for _, src := range srcs {
		mergeInto(dst, src)
	}
	return dst
}

func mergeInto(dst, src map[string]interface{}) {
	for k, sv := range src {
		dv, ok := dst[k]
		if !ok || empty(dv) {
			dst[k] = sv
			continue
		}
		dm, dIsMap := dv.(map[string]interface{})
		sm, sIsMap := sv.(map[string]interface{})
		if dIsMap && sIsMap {
			mergeInto(dm, sm)
		}
	}
}

// ---- encoding ----

func toJson(v interface{}) string {
	output, _ := json.Marshal(v)
	return string(output)
}

func toPrettyJson(v interface{}) string {
	output, _ := json.MarshalIndent(v, "", "  ")
	return string(output)
}

func fromJson(v string) interface{} {
	var output interface{}
	_ = json.Unmarshal([]byte(v), &output)
	return output
}

func b64dec(v string) string {
	data, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// ---- regular expressions ----

func regexMatch(regex string, s string) bool {
	match, _ := regexp.MatchString(regex, s)
	return match
}

func regexReplaceAll(regex string, s string, repl string) string {
	r := regexp.MustCompile(regex)
	return r.ReplaceAllString(s, repl)
}

// ---- arithmetic ----

func add(i ...interface{}) int64 {
	var a int64
	for _, b := range i {
		a += toInt64(b)
	}
	return a
}

func mul(a interface{}, v ...interface{}) int64 {
	val := toInt64(a)
	for _, b := range v {
		val = val * toInt64(b)
	}
	return val
}

func max(a interface{}, i ...interface{}) int64 {
	aa := toInt64(a)
	for _, b := range i {
		bb := toInt64(b)
		if bb > aa {
			aa = bb
		}
	}
	return aa
}

func min(a interface{}, i ...interface{}) int64 {
	aa := toInt64(a)
	for _, b := range i {
		bb := toInt64(b)
		if bb < aa {
			aa = bb
		}
	}
	return aa
}

// ---- URLs ----

func urlParse(v string) map[string]interface{} {
	d := map[string]interface{}{}
	parsedURL, err := url.Parse(v)
	if err != nil {
		panic(fmt.Sprintf("unable to parse url: %s", err))
	}
	d["scheme"] = parsedURL.Scheme
	d["host"] = parsedURL.Host
	d["hostname"] = parsedURL.Hostname()
	d["path"] = parsedURL.Path
	d["query"] = parsedURL.RawQuery
	d["opaque"] = parsedURL.Opaque
	d["fragment"] = parsedURL.Fragment
	if parsedURL.User != nil {
		d["userinfo"] = parsedURL.User.String()
	} else {
		d["userinfo"] = ""
	}
	return d
}

func dictGetOrEmpty(d map[string]interface{}, key string) string {
	value, ok := d[key]
	if !ok {
		return ""
	}
	s, ok := value.(string)
	if !ok {
		panic(fmt.Sprintf("unable to parse %s key, must be of type string, but %s found", key, reflect.TypeOf(value).String()))
	}
	return s
}

func urlJoin(d map[string]interface{}) string {
	resURL := url.URL{
		Scheme:   dictGetOrEmpty(d, "scheme"),
		Host:     dictGetOrEmpty(d, "host"),
		Path:     dictGetOrEmpty(d, "path"),
		RawQuery: dictGetOrEmpty(d, "query"),
		Opaque:   dictGetOrEmpty(d, "opaque"),
		Fragment: dictGetOrEmpty(d, "fragment"),
	}
	userinfo := dictGetOrEmpty(d, "userinfo")
	var user *url.Userinfo
	if userinfo != "" {
		tempURL, err := url.Parse(fmt.Sprintf("proto://%s@host", userinfo))
		if err != nil {
			panic(fmt.Sprintf("unable to parse userinfo in dict: %s", err))
		}
		user = tempURL.User
	}
	resURL.User = user
	return resURL.String()
}
