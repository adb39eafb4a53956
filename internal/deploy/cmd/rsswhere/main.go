// Command rsswhere tells which parts of a running Go binary's image are
// resident: it reads the process's page table (/proc/PID/pagemap, as
// root) for the mappings of its executable and its bss, and attributes
// every resident 4 KiB page to what the same build, with symbols, holds
// there: functions (.text), type descriptors (by DWARF), the pclntab
// entries of each function (its _func, name and pc tables), its funcdata
// (go:func.*, stack maps), string data and variables; then it adds them up
// by kind, by module and by package.
//
//	go run ./internal/deploy/cmd/rsswhere [-top N] PID BINARY
//	go run ./internal/deploy/cmd/rsswhere -faults PERF.txt BINARY
//
// BINARY is the process's build without -s -w (the layout is the same
// as the stripped release build's, with a symbol table and DWARF);
// without DWARF, type descriptors are one lump.
//
// Idle RSS is mostly such pages, not heap: a page the program touches
// maps (fault-around) the 64 KiB of its file around it, so one call into
// a package at start costs 16 pages of its neighbours. Which code touched
// a page first is what -faults tells, from a record of the page faults:
//
//	perf record -e page-faults -c 1 -d -g -o f.data -- BINARY ARGS...
//	perf script -i f.data -F addr,ip,sym > f.txt
//
// It prints, for each fault inside the image, the address, what is there
// (kind and owner), the faulting function and the root of its stack (the
// package init running, or our code's outermost frame).
package main

import (
	"bufio"
	"cmp"
	"debug/buildinfo"
	"debug/dwarf"
	"debug/elf"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
)

const pageSize = 4096

func main() {
	top := flag.Int("top", 40, "how many modules and packages to list")
	faults := flag.String("faults", "", "`file` of perf script -F addr,ip,sym output of page faults: print one line per fault in the image")
	flag.Parse()
	if err := run(os.Stdout, *top, *faults, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "rsswhere:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, top int, faults string, args []string) error {
	if (faults == "" && len(args) != 2) || (faults != "" && len(args) != 1) {
		return errors.New("usage: rsswhere [-top N] PID BINARY, or rsswhere -faults PERF.txt BINARY")
	}
	img, err := openImage(args[len(args)-1])
	if err != nil {
		return err
	}
	defer img.f.Close()
	if faults != "" {
		text, err := os.ReadFile(faults)
		if err != nil {
			return err
		}
		return img.writeFaults(w, string(text))
	}
	pages, err := residentPages(args[0])
	if err != nil {
		return err
	}
	img.attribute(pages).write(w, top)
	return nil
}

// A span is a range of the image's addresses and what is there.
type span struct {
	start, end uint64
	kind       string // .text, types, pcln:_func, gofunc, .data, ...
	owner      string // a function, type or variable
}

// image is a binary's spans, sorted by address and not overlapping.
type image struct {
	f       *elf.File
	spans   []span
	modules []string // by length, longest first
	main    string   // the main module
	strings struct{ start, end uint64 }
}

func openImage(path string) (*image, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	img := &image{f: f}
	if err := img.load(path); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

func (img *image) load(path string) error {
	syms, err := img.f.Symbols()
	if err != nil {
		return fmt.Errorf("no symbols (build it without -s): %w", err)
	}
	addr := map[string]uint64{}
	for _, s := range syms {
		addr[s.Name] = s.Value
	}
	for _, name := range []string{"runtime.types", "go:string.*", "go:funcdesc", "runtime.pclntab", "go:func.*", "runtime.findfunctab", "runtime.epclntab"} {
		if _, ok := addr[name]; !ok {
			return fmt.Errorf("no symbol %s: not a Go 1.26 binary?", name)
		}
	}
	img.strings.start, img.strings.end = addr["go:string.*"], addr["go:funcdesc"]
	var spans []span
	for _, s := range syms {
		// go:func.* and findfunctab are containers, split below.
		if s.Size == 0 || s.Name == "go:func.*" || s.Name == "runtime.findfunctab" {
			continue
		}
		if sec := img.section(s.Value); sec != "" {
			spans = append(spans, span{s.Value, s.Value + s.Size, strings.Replace(sec, ".rodata", "rodata:named", 1), s.Name})
		}
	}
	types, err := img.types(addr["runtime.types"], img.strings.start)
	if err != nil {
		return err
	}
	spans = append(spans, types...)
	pcln, err := img.pclntab(addr["runtime.pclntab"], addr["go:func.*"], addr["runtime.findfunctab"], addr["runtime.epclntab"])
	if err != nil {
		return err
	}
	spans = append(spans, pcln...)
	slices.SortFunc(spans, func(a, b span) int { return cmp.Compare(a.start, b.start) })
	// Where spans overlap, the earlier one keeps the bytes.
	var end uint64
	img.spans = spans[:0]
	for _, s := range spans {
		s.start = max(s.start, end)
		if s.start < s.end {
			img.spans = append(img.spans, s)
			end = s.end
		}
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return err
	}
	img.main = bi.Main.Path
	img.modules = []string{bi.Main.Path}
	for _, d := range bi.Deps {
		img.modules = append(img.modules, d.Path)
	}
	slices.SortFunc(img.modules, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return nil
}

// types returns the type descriptors in [lo, hi) that DWARF names, each up
// to the next; without DWARF, one span.
func (img *image) types(lo, hi uint64) ([]span, error) {
	d, err := img.f.DWARF()
	if err != nil {
		return []span{{lo, hi, "types", "type:*"}}, nil
	}
	starts := map[uint64]string{}
	r := d.Reader()
	for {
		e, err := r.Next()
		if err != nil {
			return nil, err
		}
		if e == nil {
			break
		}
		const goRuntimeType = 0x2904 // DW_AT_go_runtime_type
		a, ok := e.Val(goRuntimeType).(uint64)
		if !ok {
			continue
		}
		if a < lo {
			a += lo // an offset from runtime.types
		}
		if name, _ := e.Val(dwarf.AttrName).(string); starts[a] == "" {
			starts[a] = name
		}
	}
	return fromStarts(starts, lo, hi, "types"), nil
}

// pclntab returns the spans of the pclntab at pcln (the layout of Go
// 1.26's runtime.pcHeader and _func) and of the funcdata at gofunc, by
// function.
func (img *image) pclntab(pcln, gofunc, findfunctab, end uint64) ([]span, error) {
	le := binary.LittleEndian
	hdr, err := img.read(pcln, 72)
	if err != nil {
		return nil, err
	}
	if magic := le.Uint32(hdr); magic != 0xfffffff1 {
		return nil, fmt.Errorf("pclntab magic %#x, want Go 1.20's 0xfffffff1", magic)
	}
	nfunc := le.Uint64(hdr[8:])
	off := func(i int) uint64 { return pcln + le.Uint64(hdr[i:]) }
	funcnames, cutab, filetab, pctab, table := off(32), off(40), off(48), off(56), off(64)
	functab := table + (nfunc+1)*8
	spans := []span{
		{pcln, funcnames, "pcln:header", "runtime"},
		{cutab, filetab, "pcln:cutab", "runtime"},
		{filetab, pctab, "pcln:filetab", "runtime"},
		{table, functab, "pcln:functab", "runtime"},
		{findfunctab, end, "pcln:findfunctab", "runtime"},
	}
	ftab, err := img.read(table, int((nfunc+1)*8))
	if err != nil {
		return nil, err
	}
	names, funcs, pcs, funcdata := map[uint64]string{}, map[uint64]string{}, map[uint64]string{}, map[uint64]string{}
	for i := range nfunc {
		fa := table + uint64(le.Uint32(ftab[i*8+4:]))
		f, err := img.read(fa, 44)
		if err != nil {
			return nil, err
		}
		nameAt := funcnames + uint64(le.Uint32(f[4:]))
		nb, err := img.read(nameAt, int(min(1024, cutab-nameAt)))
		if err != nil {
			return nil, err
		}
		name, _, _ := strings.Cut(string(nb), "\x00")
		funcs[fa], names[nameAt] = name, name
		npcdata, nfuncdata := uint64(le.Uint32(f[28:])), uint64(f[43])
		tail, err := img.read(fa+44, int(4*(npcdata+nfuncdata)))
		if err != nil {
			return nil, err
		}
		// pcsp, pcfile, pcln, then the pcdata tables; shared tables go to
		// the first function.
		offs := []uint32{le.Uint32(f[16:]), le.Uint32(f[20:]), le.Uint32(f[24:])}
		for j := range npcdata {
			offs = append(offs, le.Uint32(tail[4*j:]))
		}
		for _, o := range offs {
			if _, ok := pcs[pctab+uint64(o)]; o != 0 && !ok {
				pcs[pctab+uint64(o)] = name
			}
		}
		for j := range nfuncdata {
			o := le.Uint32(tail[4*(npcdata+j):])
			if _, ok := funcdata[gofunc+uint64(o)]; o != ^uint32(0) && !ok {
				funcdata[gofunc+uint64(o)] = name
			}
		}
	}
	spans = append(spans, fromStarts(names, funcnames, cutab, "pcln:funcname")...)
	spans = append(spans, fromStarts(pcs, pctab, table, "pcln:pctab")...)
	spans = append(spans, fromStarts(funcs, functab, gofunc, "pcln:_func")...)
	return append(spans, fromStarts(funcdata, gofunc, findfunctab, "gofunc")...), nil
}

// fromStarts returns a span from each start in [lo, hi) to the next.
func fromStarts(owners map[uint64]string, lo, hi uint64, kind string) []span {
	starts := slices.Sorted(maps.Keys(owners))
	var spans []span
	for i, a := range starts {
		if a < lo || a >= hi {
			continue
		}
		end := hi
		if i+1 < len(starts) {
			end = min(starts[i+1], hi)
		}
		spans = append(spans, span{a, end, kind, owners[a]})
	}
	return spans
}

// read reads n bytes of the image's file at address a.
func (img *image) read(a uint64, n int) ([]byte, error) {
	for _, p := range img.f.Progs {
		if p.Type == elf.PT_LOAD && a >= p.Vaddr && a+uint64(n) <= p.Vaddr+p.Filesz {
			b := make([]byte, n)
			_, err := p.ReadAt(b, int64(a-p.Vaddr))
			return b, err
		}
	}
	return nil, fmt.Errorf("no file data at %#x+%d", a, n)
}

// section names the allocated section at a, or "".
func (img *image) section(a uint64) string {
	for _, s := range img.f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 && a >= s.Addr && a < s.Addr+s.Size {
			return s.Name
		}
	}
	return ""
}

// at returns the span at a, if any.
func (img *image) at(a uint64) (span, bool) {
	i, _ := slices.BinarySearchFunc(img.spans, a, func(s span, a uint64) int { return cmp.Compare(s.end, a+1) })
	if i < len(img.spans) && img.spans[i].start <= a {
		return img.spans[i], true
	}
	return span{}, false
}

// report is resident bytes by kind, by module and by package.
type report struct {
	pages                   int
	byKind, byModule, byPkg map[string]float64
	moduleKind              map[[2]string]float64
}

// attribute adds up the resident pages by what the image holds there;
// bytes of no span count as "gap" plus their section (strings in
// go:string.*, which has no symbols).
func (img *image) attribute(pages []uint64) *report {
	r := &report{pages: len(pages), byKind: map[string]float64{}, byModule: map[string]float64{},
		byPkg: map[string]float64{}, moduleKind: map[[2]string]float64{}}
	add := func(kind, pkg string, n uint64) {
		mod := img.module(pkg)
		r.byKind[kind] += float64(n)
		r.byModule[mod] += float64(n)
		r.byPkg[pkg] += float64(n)
		r.moduleKind[[2]string{mod, kind}] += float64(n)
	}
	for _, p := range pages {
		covered := uint64(0)
		i, _ := slices.BinarySearchFunc(img.spans, p, func(s span, p uint64) int { return cmp.Compare(s.end, p+1) })
		for ; i < len(img.spans) && img.spans[i].start < p+pageSize; i++ {
			s := img.spans[i]
			n := min(s.end, p+pageSize) - max(s.start, p)
			covered += n
			add(s.kind, pkgOf(s.owner), n)
		}
		if covered < pageSize {
			kind := "gap" + img.section(p)
			if p >= img.strings.start && p < img.strings.end {
				kind = "strings"
			}
			add(kind, "?", pageSize-covered)
		}
	}
	return r
}

func (r *report) write(w io.Writer, top int) {
	mib := func(b float64) string { return fmt.Sprintf("%6.2f", b/(1<<20)) }
	list := func(title string, m map[string]float64, n int) {
		fmt.Fprintf(w, "\n%s (MiB):\n", title)
		keys := slices.SortedFunc(maps.Keys(m), func(a, b string) int { return cmp.Or(cmp.Compare(m[b], m[a]), cmp.Compare(a, b)) })
		for _, k := range keys[:min(n, len(keys))] {
			fmt.Fprintf(w, "  %s  %s\n", mib(m[k]), k)
		}
	}
	fmt.Fprintf(w, "resident image pages: %s MiB (%d pages)\n", mib(float64(r.pages*pageSize)), r.pages)
	list("by kind", r.byKind, 100)
	list("by module", r.byModule, top)
	list("by package", r.byPkg, top)
	kinds := []string{".text", "types", "strings", "pcln:_func", "pcln:pctab", "pcln:funcname", "gofunc", ".noptrdata", ".data", ".bss", ".noptrbss"}
	fmt.Fprintf(w, "\nmodule by kind (MiB):\n%-44s", "module")
	for _, k := range kinds {
		fmt.Fprintf(w, " %13s", k)
	}
	fmt.Fprintln(w)
	mods := slices.SortedFunc(maps.Keys(r.byModule), func(a, b string) int { return cmp.Compare(r.byModule[b], r.byModule[a]) })
	for _, m := range mods[:min(top, len(mods))] {
		fmt.Fprintf(w, "%-44s", m)
		for _, k := range kinds {
			fmt.Fprintf(w, " %13s", mib(r.moduleKind[[2]string{m, k}]))
		}
		fmt.Fprintln(w)
	}
}

// pkgOf returns the package of a function, type or variable name:
// "(composite)" for unnamed types, "?" for none.
func pkgOf(name string) string {
	n := name
	if rest, ok := strings.CutPrefix(n, "go:itab."); ok {
		n, _, _ = strings.Cut(rest, ",") // the concrete type's package
	}
	for _, p := range []string{"type:.eq.", "type:.hash.", "go:", "type:"} {
		n = strings.TrimPrefix(n, p)
	}
	n = strings.TrimLeft(n, "*[]0123456789")
	for _, p := range []string{"noalg.", "go.shape.", "map[", "func(", "chan ", "<-chan", "struct {", "interface {"} {
		if strings.HasPrefix(n, p) {
			return "(composite)"
		}
	}
	n, _, _ = strings.Cut(n, "[") // type arguments
	slash := strings.LastIndexByte(n, '/')
	if dot := strings.IndexByte(n[slash+1:], '.'); dot >= 0 {
		return n[:slash+1+dot]
	}
	return cmp.Or(n, "?")
}

// module returns the module of pkg: a dependency, our module's top two
// directories (pkg/api, internal/app), or a group of the standard library.
func (img *image) module(pkg string) string {
	for _, m := range img.modules {
		if pkg != m && !strings.HasPrefix(pkg, m+"/") {
			continue
		}
		if dirs := strings.SplitN(strings.TrimPrefix(pkg, m+"/"), "/", 3); m == img.main && pkg != m && len(dirs) >= 2 {
			return m + "/" + dirs[0] + "/" + dirs[1]
		}
		return m
	}
	first, _, _ := strings.Cut(pkg, "/")
	switch {
	case strings.Contains(first, "."), pkg == "(composite)", pkg == "?":
		return pkg
	case first == "runtime", first == "internal", first == "reflect", first == "sync", first == "slices", first == "sort", first == "maps":
		return "std:runtime,reflect,internal,sync,slices"
	case strings.HasPrefix(pkg, "net/http"):
		return "std:net/http"
	}
	switch first {
	case "net", "crypto", "vendor", "encoding", "text", "html", "math", "database", "log", "compress":
		return "std:" + first
	}
	return "std:other"
}

// residentPages returns the addresses of the resident pages of pid's
// executable mappings and of the anonymous mapping right after them (bss).
func residentPages(pid string) ([]uint64, error) {
	exe, err := os.Readlink("/proc/" + pid + "/exe")
	if err != nil {
		return nil, err
	}
	maps, err := os.ReadFile("/proc/" + pid + "/maps")
	if err != nil {
		return nil, err
	}
	pagemap, err := os.Open("/proc/" + pid + "/pagemap")
	if err != nil {
		return nil, err
	}
	defer pagemap.Close()
	var pages []uint64
	var lastEnd uint64
	sc := bufio.NewScanner(strings.NewReader(string(maps)))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err := errors.Join(err1, err2); err != nil {
			return nil, err
		}
		path := ""
		if len(f) >= 6 {
			path = f[5]
		}
		switch {
		case path == exe:
			lastEnd = end
		case path == "" && start == lastEnd && lastEnd != 0:
			lastEnd = 0
		default:
			lastEnd = 0
			continue
		}
		n := (end - start) / pageSize
		entries := make([]byte, 8*n)
		if _, err := pagemap.ReadAt(entries, int64(start/pageSize*8)); err != nil {
			return nil, fmt.Errorf("pagemap: %w", err)
		}
		for i := range n {
			if binary.LittleEndian.Uint64(entries[8*i:])&(1<<63) != 0 { // present
				pages = append(pages, start+i*pageSize)
			}
		}
	}
	return pages, sc.Err()
}

// writeFaults writes a line per page fault of a perf script listing that
// falls in the image: address, kind, owner, faulting function and the
// root of its stack.
func (img *image) writeFaults(w io.Writer, perf string) error {
	var lo, hi uint64 = ^uint64(0), 0
	for _, s := range img.f.Sections {
		if s.Flags&elf.SHF_ALLOC != 0 {
			lo, hi = min(lo, s.Addr), max(hi, s.Addr+s.Size)
		}
	}
	for _, sample := range strings.Split(perf, "\n\n") {
		lines := strings.Split(strings.TrimSpace(sample), "\n")
		f := strings.Fields(lines[0])
		if len(f) == 0 {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil || a < lo || a >= hi {
			continue
		}
		kind, owner := img.section(a), "?"
		if s, ok := img.at(a); ok {
			kind, owner = s.kind, s.owner
		}
		var stack []string
		for _, l := range lines[1:] {
			if f := strings.Fields(l); len(f) >= 2 {
				fn, _, _ := strings.Cut(f[1], "+0x")
				stack = append(stack, fn)
			}
		}
		leaf := "?"
		if len(stack) > 0 {
			leaf = stack[0]
		}
		fmt.Fprintf(w, "%#x\t%s\t%s\t%s\t%s\n", a, kind, owner, leaf, root(stack))
	}
	return nil
}

// root names what a stack (leaf first) was doing: the outermost package
// init, else our module's outermost frame, else the outermost frame.
func root(stack []string) string {
	for _, fn := range slices.Backward(stack) {
		if !strings.HasPrefix(fn, "runtime.") && (strings.HasSuffix(fn, ".init") || strings.Contains(fn, ".init.")) {
			return "init " + fn
		}
	}
	for _, fn := range slices.Backward(stack) {
		if strings.HasPrefix(fn, "github.com/srvmon/") || strings.HasPrefix(fn, "main.") {
			return fn
		}
	}
	if len(stack) == 0 {
		return "?"
	}
	return "root " + stack[len(stack)-1]
}
