package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"gatehouse/models/dbtest"
)

// The whole graceful shutdown is bounded by GATEHOUSE_SHUTDOWN_TIMEOUT (25 s by
// default, under Kubernetes' 30 s grace period), even with a client that never
// finishes its request (issue 13 item 6). The bound is the behaviour under test: the
// old drain alone waited 15 s, then the job stop up to 15 s more.
func TestShutdownIsBounded(t *testing.T) {
	_, url := dbtest.NewWithURL(t)
	port := freePort(t)
	cfg, err := loadConfig(func(k string) string {
		return map[string]string{"DATABASE_URL": url, "GATEHOUSE_ADDR": fmt.Sprintf("127.0.0.1:%d", port), "GATEHOUSE_SHUTDOWN_TIMEOUT": "2s"}[k]
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil))) }()
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	for deadline := time.Now().Add(60 * time.Second); ; {
		if res, err := http.Get(base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A client that announces a body and never sends it keeps its connection busy.
	slow, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	if _, err := io.WriteString(slow, "POST /auth/login/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nemail="); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown took longer than 10 s with GATEHOUSE_SHUTDOWN_TIMEOUT=2s")
	}
}
