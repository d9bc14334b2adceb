package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
)

func httptestGet(path string) *http.Request { return httptest.NewRequest(http.MethodGet, path, nil) }

func httptestPost(path, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return r
}
