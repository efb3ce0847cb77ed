package migrate

import (
	"fmt"
	"strings"
)

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// maxDiffCells bounds the LCS table; larger inputs are shown as one
// replacement hunk.
const maxDiffCells = 4 << 20

type editKind byte

const (
	editEqual  editKind = ' '
	editDelete editKind = '-'
	editInsert editKind = '+'
)

type edit struct {
	kind editKind
	text string
}

// unifiedDiff returns a unified diff (3 lines of context) of the lines of a
// and b labelled aName and bName, or "" if they are equal.
func unifiedDiff(aName, bName, a, b string) string {
	if a == b {
		return ""
	}
	edits := lineEdits(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)

	// aPos[i], bPos[i]: lines of a and b before edit i.
	aPos := make([]int, len(edits)+1)
	bPos := make([]int, len(edits)+1)
	for i, e := range edits {
		aPos[i+1], bPos[i+1] = aPos[i], bPos[i]
		if e.kind != editInsert {
			aPos[i+1]++
		}
		if e.kind != editDelete {
			bPos[i+1]++
		}
	}
	i := 0
	for i < len(edits) {
		// Find the next change and extend the hunk while changes are close.
		for i < len(edits) && edits[i].kind == editEqual {
			i++
		}
		if i == len(edits) {
			break
		}
		start := max(0, i-diffContext)
		end := i
		for {
			for end < len(edits) && edits[end].kind != editEqual {
				end++
			}
			next := end
			for next < len(edits) && edits[next].kind == editEqual {
				next++
			}
			if next < len(edits) && next-end <= 2*diffContext {
				end = next
				continue
			}
			break
		}
		stop := min(len(edits), end+diffContext)
		aLen, bLen := aPos[stop]-aPos[start], bPos[stop]-bPos[start]
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(aPos[start], aLen), hunkRange(bPos[start], bLen))
		for _, e := range edits[start:stop] {
			out.WriteByte(byte(e.kind))
			out.WriteString(e.text)
			out.WriteByte('\n')
		}
		i = stop
	}
	return out.String()
}

// hunkRange is "start,length" with unified diff's conventions: lines count
// from 1, and an empty range names the line before it.
func hunkRange(before, length int) string {
	start := before + 1
	if length == 0 {
		start = before
	}
	if length == 1 {
		return fmt.Sprint(start)
	}
	return fmt.Sprintf("%d,%d", start, length)
}

func splitLines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// lineEdits turns a into b with a longest common subsequence of lines.
func lineEdits(a, b []string) []edit {
	// Common prefix and suffix need no table.
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	var edits []edit
	for _, l := range a[:pre] {
		edits = append(edits, edit{editEqual, l})
	}
	edits = append(edits, middleEdits(a[pre:len(a)-suf], b[pre:len(b)-suf])...)
	for _, l := range a[len(a)-suf:] {
		edits = append(edits, edit{editEqual, l})
	}
	return edits
}

func middleEdits(a, b []string) []edit {
	n, m := len(a), len(b)
	var edits []edit
	if n == 0 || m == 0 || (n+1)*(m+1) > maxDiffCells {
		for _, l := range a {
			edits = append(edits, edit{editDelete, l})
		}
		for _, l := range b {
			edits = append(edits, edit{editInsert, l})
		}
		return edits
	}
	// lcs[i][j] is the LCS length of a[i:] and b[j:].
	lcs := make([][]int32, n+1)
	for i := range lcs {
		lcs[i] = make([]int32, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	i, j := 0, 0
	for i < n && j < m {
		switch {
		case a[i] == b[j]:
			edits = append(edits, edit{editEqual, a[i]})
			i++
			j++
		case lcs[i+1][j] >= lcs[i][j+1]:
			edits = append(edits, edit{editDelete, a[i]})
			i++
		default:
			edits = append(edits, edit{editInsert, b[j]})
			j++
		}
	}
	for ; i < n; i++ {
		edits = append(edits, edit{editDelete, a[i]})
	}
	for ; j < m; j++ {
		edits = append(edits, edit{editInsert, b[j]})
	}
	return edits
}
