package handlers_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"gatehouse/handlers/testapp"
	"gatehouse/models"
	"gatehouse/models/pglocal"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

// BenchmarkSSOLoginThroughput is full SSO logins over HTTP on loopback: an
// IdP-initiated SAMLResponse POSTed to the ACS, every same-site redirect under /saml/
// or /auth/sso/ followed (the ACS completes in a same-site GET after a 303), until the
// session cookie is set. A bounded load generator (loginConcurrency keep-alive connections) runs b.N
// logins of 64 already-provisioned users, each response freshly signed beforehand.
//
// It runs on a private PostgreSQL started for it with the embedded server's defaults
// (fsync and full_page_writes on; synchronous_commit off, so commits are grouped and
// a power cut can lose the last moments of them, never corrupt), unlike the shared
// test server; so run it alone in its process:
//
//	go test ./handlers -run '^$' -bench SSOLoginThroughput -benchtime 2000x
//
// The load generator is this test binary in a child process (TestSSOLoginLoadGenerator),
// so that this process's CPU is the server's alone; GATEHOUSE_BENCH_LOADGEN=inprocess
// runs it in this process instead. Metrics: logins/s (wall), gatehouse-cpu-ms/login
// (this process: the server, plus the generator when in process), loadgen-cpu-ms/login,
// pg-cpu-ms/login (every backend of the private server), commits/login
// (pg_stat_database.xact_commit of the app's database, read-only ones included),
// write-xacts/login (transactions that took an id) and wal-fsyncs/login. Set
// GATEHOUSE_BENCH_SHARED_PG=1 to use the shared (fsync off) server.
func BenchmarkSSOLoginThroughput(b *testing.B) {
	const loginConcurrency = 8
	var pgData string
	if os.Getenv("GATEHOUSE_BENCH_SHARED_PG") == "" {
		if os.Getenv("TEST_DATABASE_URL") != "" && durablePG.url == "" {
			b.Skip("TEST_DATABASE_URL is set: this benchmark starts its own durable server")
		}
		// One server per process (the benchmark function runs more than once, and
		// pgtestdb keeps per-server state), in a fixed folder reused across runs; it is
		// this process's child and stops with it.
		durablePG.once.Do(func() {
			dir := filepath.Join(os.TempDir(), "gatehouse-bench-durable-pg")
			srv, err := pglocal.Start(context.Background(), dir, pglocal.Options{})
			if err != nil {
				durablePG.err = err
				return
			}
			durablePG.url, durablePG.pgData = srv.URLFor("postgres"), srv.PGData
			os.Setenv("TEST_DATABASE_URL", durablePG.url)
		})
		if durablePG.err != nil {
			b.Skipf("durable PostgreSQL: %v", durablePG.err)
		}
		pgData = durablePG.pgData
	}
	serverRuntime(b)
	a := testapp.Serve(b, testapp.Options{})
	owner := a.Client(b)
	owner.Get("/setup/")
	owner.Post("/setup/", url.Values{"name": {"Owner"}, "email": {"owner@example.com"}, "password": {"owner password"}, "org_name": {"Acme"}, "org_slug": {"acme"}})
	idp := samltest.New(b, "https://idp.example")
	if res := owner.Post("/settings/acme/auth/configure/saml2/", url.Values{"method": {"xml"}, "metadata_xml": {string(idp.Metadata())},
		"map_identifier": {"NameID"}, "map_email": {"email"}}); res.Status != http.StatusSeeOther {
		b.Fatalf("configure: %d", res.Status)
	}
	ctx := context.Background()
	if _, err := a.DB.Bun.NewRaw("UPDATE auth_providers SET status = 'active'").Exec(ctx); err != nil {
		b.Fatal(err)
	}
	sp := samlsp.NewSP(a.BaseURL, "acme")
	login := newLoginClient(a.BaseURL, loginConcurrency)
	const users = 64
	for i := 0; i < users; i++ { // provision (JIT) every user once
		if err := login(idp.Response(b, sp, user(fmt.Sprintf("load-%d", i), fmt.Sprintf("load%d@example.com", i)), samltest.Options{})); err != nil {
			b.Fatalf("first login: %v", err)
		}
	}
	// Warm-up logins run after the counters' first read (which closes every pooled
	// connection) and before the clock starts: the pool's backends are connected and
	// have planned the hot statements, as in a server that has been up for a while
	// (pgxpool keeps a connection up to an hour).
	const warmups = 4 * users
	responses := make([][]byte, warmups+b.N)
	for i := range responses {
		responses[i] = idp.Response(b, sp, user(fmt.Sprintf("load-%d", i%users), fmt.Sprintf("load%d@example.com", i%users)), samltest.Options{})
	}
	warm, responses := responses[:warmups], responses[warmups:]
	var dbName string
	if err := a.DB.Bun.QueryRowContext(ctx, "SELECT current_database()").Scan(&dbName); err != nil {
		b.Fatal(err)
	}
	commits := func() int64 {
		// Backends publish their counters at exit (or idle, later): close every pooled
		// connection, then read with a fresh one. database/sql keeps no idle
		// connections of its own (database.Open), so the pgx pool holds them all. (This
		// once raised database/sql's idle limit to 2 afterwards: its reused connections
		// then pinged the server on each reuse, a third of a commit per login that the
		// server's own configuration never makes.)
		a.DB.Pool.Reset()
		time.Sleep(300 * time.Millisecond)
		var n int64
		if err := a.DB.Bun.QueryRowContext(ctx, "SELECT xact_commit FROM pg_stat_database WHERE datname = ?", dbName).Scan(&n); err != nil {
			b.Fatal(err)
		}
		return n
	}
	// Writing transactions are the ones that take a transaction id; fsyncs are what
	// PostgreSQL's group commit made of their commit records.
	writes := func() (xids, syncs int64) {
		if err := a.DB.Bun.QueryRowContext(ctx, "SELECT txid_snapshot_xmax(txid_current_snapshot())").Scan(&xids); err != nil {
			b.Fatal(err)
		}
		if err := a.DB.Bun.QueryRowContext(ctx, "SELECT wal_sync FROM pg_stat_wal").Scan(&syncs); err != nil {
			b.Fatal(err)
		}
		return xids, syncs
	}
	// The load generator runs in a child process (this test binary, as
	// TestSSOLoginLoadGenerator), so this process's CPU is the server's alone; with
	// GATEHOUSE_BENCH_LOADGEN=inprocess it runs here (as the first figures
	// were taken: gatehouse-cpu-ms/login is then the server's and the generator's).
	inProcess := os.Getenv("GATEHOUSE_BENCH_LOADGEN") == "inprocess"
	var gen *exec.Cmd
	if !inProcess {
		file := filepath.Join(b.TempDir(), "responses")
		gen = exec.Command(os.Args[0], "-test.run=^TestSSOLoginLoadGenerator$", "-test.count=1")
		var lines []string
		for _, raw := range responses {
			lines = append(lines, base64.StdEncoding.EncodeToString(raw))
		}
		if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
			b.Fatal(err)
		}
		gen.Env = append(os.Environ(), "GOMAXPROCS=1", "GATEHOUSE_LOADGEN_URL="+a.BaseURL, "GATEHOUSE_LOADGEN_FILE="+file,
			"GATEHOUSE_LOADGEN_CONCURRENCY="+strconv.Itoa(loginConcurrency))
	}
	commits0 := commits()
	xids0, syncs0 := writes()
	if _, err := runLogins(login, warm, loginConcurrency); err != nil {
		b.Fatalf("warm-up login: %v", err)
	}
	cpu0, pg0 := processCPU(), postgresCPU(pgData)
	b.ResetTimer()
	var elapsed time.Duration
	var genCPU time.Duration
	if inProcess {
		var err error
		if elapsed, err = runLogins(login, responses, loginConcurrency); err != nil {
			b.Fatalf("login: %v", err)
		}
	} else {
		out, err := gen.CombinedOutput()
		i := bytes.Index(out, []byte("LOADGEN "))
		if err != nil || i < 0 {
			b.Fatalf("load generator: %v\n%s", err, out)
		}
		var elapsedNS, genCPUNS int64
		if _, err := fmt.Sscanf(string(out[i:]), "LOADGEN %d %d", &elapsedNS, &genCPUNS); err != nil {
			b.Fatalf("load generator output: %v\n%s", err, out)
		}
		elapsed, genCPU = time.Duration(elapsedNS), time.Duration(genCPUNS)
	}
	b.StopTimer()
	cpu, pg := processCPU()-cpu0, postgresCPU(pgData)-pg0
	// The reading query itself is one commit.
	dCommits := commits() - commits0 - 1
	xids1, syncs1 := writes()
	n := float64(b.N)
	// The counters of the database include the warm-up logins.
	counted := float64(b.N + warmups)
	b.ReportMetric(n/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(cpu.Microseconds())/1000/n, "gatehouse-cpu-ms/login")
	if !inProcess {
		b.ReportMetric(float64(genCPU.Microseconds())/1000/n, "loadgen-cpu-ms/login")
	}
	if pgData != "" {
		b.ReportMetric(float64(pg.Microseconds())/1000/n, "pg-cpu-ms/login")
	}
	b.ReportMetric(float64(dCommits)/counted, "commits/login")
	b.ReportMetric(float64(xids1-xids0)/counted, "write-xacts/login")
	b.ReportMetric(float64(syncs1-syncs0)/counted, "wal-fsyncs/login")
}

// newLoginClient returns a function that signs in with one SAMLResponse over HTTP:
// an IdP-initiated POST to the ACS, every same-site redirect under /saml/ or
// /auth/sso/ followed, until the session cookie is set. Connections are kept alive,
// at most conns of them.
func newLoginClient(baseURL string, conns int) func(raw []byte) error {
	transport := &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}
	return func(raw []byte) error {
		jar, _ := cookiejar.New(nil)
		c := &http.Client{Transport: transport, Jar: jar, CheckRedirect: func(req *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(req.URL.Path, "/saml/") || strings.HasPrefix(req.URL.Path, "/auth/sso/") {
				return nil // the ACS's own same-site completion step
			}
			return http.ErrUseLastResponse
		}}
		form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(raw)}}
		res, err := c.PostForm(baseURL+"/saml/acs/acme/", form)
		if err != nil {
			return err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther {
			return fmt.Errorf("status %d", res.StatusCode)
		}
		u, _ := url.Parse(baseURL + "/")
		for _, ck := range jar.Cookies(u) {
			if ck.Name == "gatehouse_session" && ck.Value != "" {
				return nil
			}
		}
		return fmt.Errorf("no session cookie (redirect to %s)", res.Header.Get("Location"))
	}
}

// TestSSOLoginLoadGenerator is BenchmarkSSOLoginThroughput's load generator, run by
// it in a child process (skipped otherwise): every response in the file, by a bounded
// number of connections. It prints "LOADGEN <elapsed ns> <its own CPU ns>".
func TestSSOLoginLoadGenerator(t *testing.T) {
	base, file := os.Getenv("GATEHOUSE_LOADGEN_URL"), os.Getenv("GATEHOUSE_LOADGEN_FILE")
	if base == "" || file == "" {
		t.Skip("run by BenchmarkSSOLoginThroughput")
	}
	conns, _ := strconv.Atoi(os.Getenv("GATEHOUSE_LOADGEN_CONCURRENCY"))
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var responses [][]byte
	for _, line := range strings.Split(string(data), "\n") {
		raw, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			t.Fatal(err)
		}
		responses = append(responses, raw)
	}
	cpu0 := processCPU()
	elapsed, err := runLogins(newLoginClient(base, conns), responses, conns)
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	fmt.Printf("LOADGEN %d %d\n", elapsed.Nanoseconds(), (processCPU() - cpu0).Nanoseconds())
}

// runLogins signs in with every response, by conns workers; it returns the wall time
// and the first error.
func runLogins(login func([]byte) error, responses [][]byte, conns int) (time.Duration, error) {
	start := time.Now()
	work := make(chan []byte)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < conns; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for raw := range work {
				if err := login(raw); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, raw := range responses {
		work <- raw
	}
	close(work)
	wg.Wait()
	return time.Since(start), firstErr
}

var durablePG struct {
	once        sync.Once
	url, pgData string
	err         error
}

// processCPU is this process's user+system CPU time.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// postgresCPU is the user+system CPU time of the postmaster of pgData and its children
// (from /proc; Linux only; 0 elsewhere or without pgData).
func postgresCPU(pgData string) time.Duration {
	if pgData == "" {
		return 0
	}
	b, err := os.ReadFile(filepath.Join(pgData, "postmaster.pid"))
	if err != nil {
		return 0
	}
	master := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
	entries, _ := os.ReadDir("/proc")
	var ticks int64
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the ")" that closes the command name: state ppid ... utime(12) stime(13).
		s := string(stat)
		f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
		if len(f) < 13 || (e.Name() != master && f[1] != master) {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		ticks += ut + st
	}
	return time.Duration(ticks) * (time.Second / 100) // USER_HZ
}

// BenchmarkWrongPasswordRSS is bursts of 30 concurrent wrong-password logins (unknown
// emails: each costs one argon2id comparison against the timing equaliser) through the
// app; it reports the peak resident memory of the process during the bursts, how many
// were shed with 503 and the p99 latency. Hashing is bounded to one per core.
//
//	go test ./handlers -run '^$' -bench WrongPasswordRSS -benchtime 5x
func BenchmarkWrongPasswordRSS(b *testing.B) {
	const burst = 30
	serverRuntime(b)
	a := testapp.New(b, testapp.Options{})
	ctx := context.Background()
	var peak, shed, other int64
	var durations []time.Duration
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if rss := residentKB(); rss > atomicLoad(&peak) {
				atomicStore(&peak, rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		if _, err := a.DB.Bun.ExecContext(ctx, "DELETE FROM rate_limits"); err != nil {
			b.Fatal(err)
		}
		clients := make([]*testapp.Client, burst)
		for j := range clients {
			clients[j] = a.Client(b)
			clients[j].CSRF()
		}
		b.StartTimer()
		var wg sync.WaitGroup
		var mu sync.Mutex
		for j, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				t0 := time.Now()
				res := c.Post("/auth/login/", url.Values{"email": {fmt.Sprintf("nobody%d-%d@example.com", i, j)}, "password": {"wrong password"}})
				d := time.Since(t0)
				mu.Lock()
				defer mu.Unlock()
				durations = append(durations, d)
				switch {
				case res.Status == http.StatusServiceUnavailable && res.Header.Get("Retry-After") != "":
					shed++
				case res.Status != http.StatusUnprocessableEntity:
					other++
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	close(stop)
	<-sampled
	if other > 0 {
		b.Fatalf("%d responses were neither 422 nor 503 with Retry-After", other)
	}
	sort.Slice(durations, func(i, j int) bool { return durations[i] < durations[j] })
	b.ReportMetric(float64(peak)/1024, "peak-rss-MB")
	b.ReportMetric(float64(shed)/float64(len(durations)), "shed-fraction")
	b.ReportMetric(float64(durations[len(durations)*99/100].Milliseconds()), "p99-ms")
}

var rssMu sync.Mutex

func atomicLoad(p *int64) int64     { rssMu.Lock(); defer rssMu.Unlock(); return *p }
func atomicStore(p *int64, v int64) { rssMu.Lock(); defer rssMu.Unlock(); *p = v }

// residentKB is this process's VmRSS in KiB (Linux; 0 elsewhere).
func residentKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			if len(f) >= 2 {
				n, _ := strconv.ParseInt(f[1], 10, 64)
				return n
			}
		}
	}
	return 0
}

// serverRuntime applies the server's soft memory limit and GOGC, as cmd/gatehouse does
// at start, for the rest of the benchmark.
func serverRuntime(b *testing.B) {
	prevLimit, prevGC := debug.SetMemoryLimit(-1), debug.SetGCPercent(100)
	debug.SetGCPercent(prevGC)
	models.ApplyMemoryLimit()
	models.ApplyGCPercent()
	b.Cleanup(func() {
		debug.SetMemoryLimit(prevLimit)
		debug.SetGCPercent(prevGC)
	})
}
