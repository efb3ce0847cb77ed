package store

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
)

// bbolt's on-disk format (version 2, unchanged since 2014), read here so that
// a damaged file is reported before bbolt maps it: bbolt reads the freelist
// and root pages through the mapping and faults or panics on a file that is
// shorter than its data or points outside itself. Integers are in the
// machine's byte order, as bbolt writes its structs.
const (
	boltMagic        = 0xED0CDAED
	boltVersion      = 2
	pageHeaderSize   = 16 // id u64, flags u16, count u16, overflow u32
	metaChecksumOff  = 56 // the meta fields the checksum covers
	metaSize         = 64
	branchPageFlag   = 0x01
	leafPageFlag     = 0x02
	freelistPageFlag = 0x10
	noFreelist       = ^uint64(0)
)

// boltMeta is the part of a meta page the header check uses.
type boltMeta struct {
	pageSize       uint32
	root, freelist uint64
	pgid, txid     uint64
}

func parseMeta(page []byte) (boltMeta, error) {
	if len(page) < pageHeaderSize+metaSize {
		return boltMeta{}, errors.New("short meta page")
	}
	m := page[pageHeaderSize : pageHeaderSize+metaSize]
	ne := binary.NativeEndian
	if ne.Uint32(m[0:]) != boltMagic {
		return boltMeta{}, errors.New("not a bbolt meta page")
	}
	if v := ne.Uint32(m[4:]); v != boltVersion {
		return boltMeta{}, fmt.Errorf("bbolt format version %d, want %d", v, boltVersion)
	}
	h := fnv.New64a()
	_, _ = h.Write(m[:metaChecksumOff])
	if ne.Uint64(m[metaChecksumOff:]) != h.Sum64() {
		return boltMeta{}, errors.New("meta page checksum mismatch")
	}
	return boltMeta{
		pageSize: ne.Uint32(m[8:]),
		root:     ne.Uint64(m[16:]),
		freelist: ne.Uint64(m[32:]),
		pgid:     ne.Uint64(m[40:]),
		txid:     ne.Uint64(m[48:]),
	}, nil
}

// pageHeader is a decoded page header.
type pageHeader struct {
	id       uint64
	flags    uint16
	count    uint16
	overflow uint32
}

func readPageHeader(f io.ReaderAt, id uint64, pageSize int) (pageHeader, []byte, error) {
	buf := make([]byte, pageHeaderSize+8)
	if _, err := f.ReadAt(buf, int64(id)*int64(pageSize)); err != nil {
		return pageHeader{}, nil, fmt.Errorf("page %d: %w", id, err)
	}
	ne := binary.NativeEndian
	return pageHeader{id: ne.Uint64(buf), flags: ne.Uint16(buf[8:]), count: ne.Uint16(buf[10:]), overflow: ne.Uint32(buf[12:])},
		buf[pageHeaderSize:], nil
}

// checkHeader validates what bbolt reads when it opens a file: the meta page it
// will use, the file size against the high-water mark, and the root and
// freelist pages it points to. It returns the problems found.
func checkHeader(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}

	// The page size is in meta 0, or in meta 1 at one of the page sizes bbolt
	// supports when meta 0 is damaged.
	var metas []boltMeta
	var pageSize int
	page := make([]byte, pageHeaderSize+metaSize)
	if _, err := f.ReadAt(page, 0); err == nil {
		if m, err := parseMeta(page); err == nil {
			metas, pageSize = append(metas, m), int(m.pageSize)
		}
	}
	if pageSize != 0 {
		if _, err := f.ReadAt(page, int64(pageSize)); err == nil {
			if m, err := parseMeta(page); err == nil && int(m.pageSize) == pageSize {
				metas = append(metas, m)
			}
		}
	} else {
		for ps := 1024; ps <= 64<<10 && pageSize == 0; ps *= 2 {
			if _, err := f.ReadAt(page, int64(ps)); err == nil {
				if m, err := parseMeta(page); err == nil && int(m.pageSize) == ps {
					metas, pageSize = append(metas, m), ps
				}
			}
		}
	}
	if len(metas) == 0 {
		return []string{"no valid meta page: not a bbolt file, or both meta pages are damaged"}, nil
	}
	m := metas[0]
	if len(metas) == 2 && metas[1].txid > m.txid {
		m = metas[1]
	}

	var probs []string
	hwm := m.pgid
	if pageSize < 512 || pageSize > 1<<20 {
		return []string{fmt.Sprintf("meta page has an invalid page size %d", pageSize)}, nil
	}
	if int64(hwm) > fi.Size()/int64(pageSize) {
		return []string{fmt.Sprintf("the file is truncated: %d bytes on disk, the data needs %d",
			fi.Size(), int64(hwm)*int64(pageSize))}, nil
	}
	within := func(what string, id uint64, want uint16) {
		if id < 2 || id >= hwm {
			probs = append(probs, fmt.Sprintf("%s page %d is outside the data (pages 2..%d)", what, id, hwm-1))
			return
		}
		h, data, err := readPageHeader(f, id, pageSize)
		switch {
		case err != nil:
			probs = append(probs, fmt.Sprintf("%s page: %v", what, err))
		case h.id != id || h.flags&want == 0:
			probs = append(probs, fmt.Sprintf("%s page %d: header says page %d with flags %#x", what, id, h.id, h.flags))
		case id+uint64(h.overflow) >= hwm:
			probs = append(probs, fmt.Sprintf("%s page %d: %d overflow pages run past the data", what, id, h.overflow))
		case want == freelistPageFlag:
			n := uint64(h.count)
			if n == 0xFFFF {
				n = binary.NativeEndian.Uint64(data) + 1
			}
			if room := (uint64(h.overflow)+1)*uint64(pageSize) - pageHeaderSize; n > room/8 {
				probs = append(probs, fmt.Sprintf("freelist page %d: %d entries do not fit in %d bytes", id, n, room))
			}
		}
	}
	within("root", m.root, branchPageFlag|leafPageFlag)
	if m.freelist != noFreelist {
		within("freelist", m.freelist, freelistPageFlag)
	}
	return probs, nil
}
