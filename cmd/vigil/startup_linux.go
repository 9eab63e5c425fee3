//go:build linux

package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// releaseStartupPages unmaps from this process the executable's read-only
// pages (code, read-only data, the pcln table) that start-up touched. The
// binary carries the whole collector distribution and its package
// initialisers touch most of it: about 80 MiB that a pipeline process then
// mostly never reads again but that would count in its RSS for good (with
// the heap, past the pipeline's 128 MiB bound). The pages are clean copies
// of the file and stay in the page cache, shared with other processes;
// whatever runs later maps them again with a minor fault. Only mappings
// without anonymous (private copy) pages are released, so relocated
// read-only data of a position-independent build is never dropped.
func releaseStartupPages() error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return err
	}
	defer f.Close()
	type mapping struct {
		start, end uintptr
		private    bool
	}
	var ranges []*mapping
	var cur *mapping
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) >= 5 && strings.Contains(fields[0], "-") && !strings.HasSuffix(fields[0], ":") {
			// A mapping's header: start-end perms offset dev inode [path].
			cur = nil
			if len(fields) < 6 || fields[5] != exe || (fields[1] != "r-xp" && fields[1] != "r--p") {
				continue
			}
			lo, hi, _ := strings.Cut(fields[0], "-")
			start, err1 := strconv.ParseUint(lo, 16, 64)
			end, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil || end <= start {
				continue
			}
			cur = &mapping{start: uintptr(start), end: uintptr(end)}
			ranges = append(ranges, cur)
			continue
		}
		// Anonymous pages are private copies (relocations): those must stay.
		// Dirty page-cache pages (a freshly written binary) are still the
		// file's and may go.
		if cur != nil && len(fields) >= 2 && fields[0] == "Anonymous:" && fields[1] != "0" {
			cur.private = true
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	for _, r := range ranges {
		if r.private {
			continue
		}
		// The raw call: the range is not Go memory, so no []byte for it.
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, r.start, r.end-r.start, syscall.MADV_DONTNEED); errno != 0 {
			return fmt.Errorf("madvise %x-%x: %w", r.start, r.end, errno)
		}
	}
	return nil
}
