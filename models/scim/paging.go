package scim

import (
	"encoding/json"
	"strconv"
	"strings"
)

// DefaultCount is the page size when the request gives no count.
const DefaultCount = 100

// ParsePaging reads startIndex and count (RFC 7644 §3.4.2.4). startIndex is 1-based:
// missing, not a number or below 1 reads as 1. count: missing reads as 100, negative
// as 0 (totalResults only), above 1000 as 1000; a count that is not an integer is
// 400 invalidValue — the RFC defines none and a silent default would hide a client bug.
func ParsePaging(startIndex, count string) (start, n int, err error) {
	start = 1
	if v, perr := strconv.Atoi(strings.TrimSpace(startIndex)); perr == nil && v > 1 {
		start = v
	} else if ne, ok := perr.(*strconv.NumError); ok && ne.Err == strconv.ErrRange && !strings.HasPrefix(strings.TrimSpace(startIndex), "-") {
		start = 1 << 62 // beyond every result: an empty page, not the first one
	}
	count = strings.TrimSpace(count)
	if count == "" {
		return start, DefaultCount, nil
	}
	n, perr := strconv.Atoi(count)
	if perr != nil {
		if ne, ok := perr.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			n = MaxResults // a huge number is still a number
			if strings.HasPrefix(count, "-") {
				n = 0
			}
			return start, n, nil
		}
		return 0, 0, badRequest(InvalidValue, "count must be a non-negative integer")
	}
	return start, min(max(n, 0), MaxResults), nil
}

// ListResponse is a page of resources (RFC 7644 §3.4.2). Resources holds *User,
// *Group, discovery maps … anything that marshals to a resource.
type ListResponse struct {
	TotalResults, StartIndex int
	Resources                []any
}

// MarshalJSON gives {"schemas", "totalResults", "startIndex", "itemsPerPage",
// "Resources"}; itemsPerPage is len(Resources) and Resources is [] when empty.
func (l ListResponse) MarshalJSON() ([]byte, error) {
	res := l.Resources
	if res == nil {
		res = []any{}
	}
	return json.Marshal(struct {
		Schemas      []string `json:"schemas"`
		TotalResults int      `json:"totalResults"`
		StartIndex   int      `json:"startIndex"`
		ItemsPerPage int      `json:"itemsPerPage"`
		Resources    []any    `json:"Resources"`
	}{[]string{SchemaListResponse}, l.TotalResults, l.StartIndex, len(res), res})
}
