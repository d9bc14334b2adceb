package main

// The failover drill (issue 13): a primary and a synchronous streaming standby on
// loopback ports, two Gatehouse instances with a multi-host DATABASE_URL
// (target_session_attrs=read-write), a bounded SCIM + SSO load through both, and, in
// turn: a primary restart, a 10 s freeze (SIGSTOP), a kill -9 of one instance, and a
// failover (the old primary killed, the standby promoted). It prints a summary table
// and fails on any lost acknowledged write, duplicate member, lost session, or 5xx
// other than 503. Run it with `task drill` (GATEHOUSE_DRILL=1); CI runs it in its own
// block.

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"gatehouse/models/pglocal"
	"gatehouse/models/samlsp"
	"gatehouse/models/samlsp/samltest"
)

const (
	drillSCIMWorkers = 6
	drillSSOWorkers  = 2
	drillSteady      = 4 * time.Second // load before and after each fault
)

// instance is one Gatehouse process.
type instance struct {
	name, bin, addr, logPath string
	env                      []string
	cmd                      *exec.Cmd
	exited                   chan struct{}
}

func (in *instance) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(in.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(in.bin, "serve")
	cmd.Env = append(os.Environ(), append(in.env, "GATEHOUSE_ADDR="+in.addr)...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd, in.exited = cmd, make(chan struct{})
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(in.exited)
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get("http://" + in.addr + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not ready (see %s)", in.name, in.logPath)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (in *instance) kill() {
	if in.cmd != nil {
		_ = in.cmd.Process.Kill()
		<-in.exited
		in.cmd = nil
	}
}

// sample is one HTTP exchange of the load.
type sample struct {
	start, end time.Time
	kind       string // scim or sso
	status     int    // 0: no HTTP answer (connection refused or reset, timeout)
}

type drill struct {
	t        *testing.T
	insts    []*instance
	token    string
	idp      *samltest.IdP
	sp       samlsp.SP
	client   *http.Client
	mu       sync.Mutex
	samples  []sample
	acked    map[string]string // SCIM userName → id, answered 201
	retried  int               // 409 after a 503 or a lost answer: created by an attempt the client never saw succeed
	sessions []*http.Client    // browsers signed in by SSO
	seq      atomic.Int64
	rr       atomic.Int64
}

func (d *drill) record(kind string, start time.Time, status int) {
	d.mu.Lock()
	d.samples = append(d.samples, sample{start: start, end: time.Now(), kind: kind, status: status})
	d.mu.Unlock()
}

func (d *drill) pick() *instance { return d.insts[int(d.rr.Add(1))%len(d.insts)] }

func (d *drill) scimCreate(in *instance, userName string) (int, string) {
	body := fmt.Sprintf(`{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":%q,"name":{"givenName":"Drill","familyName":"User"},"emails":[{"value":%q,"primary":true}],"active":true}`, userName, userName)
	req, _ := http.NewRequest("POST", "http://"+in.addr+"/api/0/organizations/acme/scim/v2/Users", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/scim+json")
	start := time.Now()
	res, err := d.client.Do(req)
	if err != nil {
		d.record("scim", start, 0)
		return 0, ""
	}
	defer res.Body.Close()
	var out struct {
		ID string `json:"id"`
	}
	_ = json.NewDecoder(res.Body).Decode(&out)
	d.record("scim", start, res.StatusCode)
	return res.StatusCode, out.ID
}

// scimWorker creates users, retrying a 503 or a lost answer like an IdP does.
func (d *drill) scimWorker(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		name := fmt.Sprintf("drill-%d@example.test", d.seq.Add(1))
		for attempt := 0; ; attempt++ {
			st, id := d.scimCreate(d.pick(), name)
			if st == http.StatusCreated {
				d.mu.Lock()
				d.acked[name] = id
				d.mu.Unlock()
				break
			}
			if st == http.StatusConflict && attempt > 0 {
				d.mu.Lock()
				d.retried++
				d.mu.Unlock()
				break
			}
			if st != 0 && st != http.StatusServiceUnavailable {
				break // recorded; judged in the summary
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)"`)

// ssoLogin signs a new browser in through the org's SAML IdP (SP-initiated) on in,
// and reports whether it got to the org's page.
func (d *drill) ssoLogin(in *instance) (*http.Client, bool) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "http://" + in.addr
	do := func(req *http.Request) (*http.Response, []byte, bool) {
		start := time.Now()
		res, err := c.Do(req)
		if err != nil {
			d.record("sso", start, 0)
			return nil, nil, false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		d.record("sso", start, res.StatusCode)
		return res, b, res.StatusCode < 400
	}
	req, _ := http.NewRequest("GET", base+"/auth/login/acme/", nil)
	res, body, ok := do(req)
	if !ok {
		return nil, false
	}
	m := csrfMeta.FindSubmatch(body)
	if m == nil {
		return nil, false
	}
	req, _ = http.NewRequest("POST", base+"/auth/login/acme/", strings.NewReader(url.Values{"_csrf": {string(m[1])}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if res, _, ok = do(req); !ok || res.StatusCode != http.StatusSeeOther {
		return nil, false
	}
	loc, err := url.Parse(res.Header.Get("Location"))
	if err != nil {
		return nil, false
	}
	compressed, _ := base64.StdEncoding.DecodeString(loc.Query().Get("SAMLRequest"))
	raw, _ := io.ReadAll(flate.NewReader(bytes.NewReader(compressed)))
	var authn struct {
		ID string `xml:"ID,attr"`
	}
	if xml.Unmarshal(raw, &authn) != nil {
		return nil, false
	}
	k := d.seq.Add(1)
	u := samltest.User{NameID: fmt.Sprintf("sso-%d", k), Attributes: map[string][]string{
		"email": {fmt.Sprintf("sso-%d@example.test", k)}, "firstName": {"Sso"}, "lastName": {strconv.FormatInt(k, 10)}}}
	resp := d.idp.Response(d.t, d.sp, u, samltest.Options{InResponseTo: authn.ID})
	form := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(resp)}, "RelayState": {loc.Query().Get("RelayState")}}
	req, _ = http.NewRequest("POST", base+"/saml/acs/acme/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	res, _, ok = do(req)
	for hops := 0; ok && res.StatusCode >= 300 && res.StatusCode < 400 && hops < 5; hops++ {
		next := res.Header.Get("Location")
		if !strings.HasPrefix(next, "/") {
			break
		}
		req, _ = http.NewRequest("GET", base+next, nil)
		res, _, ok = do(req)
	}
	if !ok {
		return nil, false
	}
	req, _ = http.NewRequest("GET", base+"/organizations/acme/", nil)
	res, _, ok = do(req)
	return c, ok && res.StatusCode == http.StatusOK
}

func (d *drill) ssoWorker(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, ok := d.ssoLogin(d.pick())
		if ok {
			d.mu.Lock()
			if len(d.sessions) < 40 {
				d.sessions = append(d.sessions, c)
			}
			d.mu.Unlock()
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// waitHealthy waits until a SCIM write succeeds through every instance.
func (d *drill) waitHealthy(limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for _, in := range d.insts {
		for {
			if st, _ := d.scimCreate(in, fmt.Sprintf("probe-%d@example.test", d.seq.Add(1))); st == http.StatusCreated {
				break
			}
			if time.Now().After(deadline) {
				return false
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return true
}

type phase struct {
	name       string
	from, to   time.Time
	inject     func()
	healthyBy  bool
	statusSeen map[int]int
	fault      time.Duration // how long the injection itself took (restart, freeze, promotion)
	outage     time.Duration
}

func TestFailoverDrill(t *testing.T) {
	if os.Getenv("GATEHOUSE_DRILL") == "" {
		t.Skip("the failover drill runs with GATEHOUSE_DRILL=1 (task drill; CI runs it in its own block)")
	}
	bin := os.Getenv("PG_BINDIR")
	if bin == "" {
		if _, err := os.Stat("/usr/lib/postgresql/15/bin/pg_basebackup"); err == nil {
			bin = "/usr/lib/postgresql/15/bin"
		} else if bin, _ = pglocal.FindBinDir(); bin == "" {
			t.Fatal("no PostgreSQL binaries")
		}
	}
	work, err := os.MkdirTemp("", "gatehouse-drill-")
	if err != nil {
		t.Fatal(err)
	}
	if cred := drillCredential(t); cred != nil {
		_ = os.Chown(work, int(cred.Uid), int(cred.Gid))
	}
	keep := false
	t.Cleanup(func() {
		if !keep && !t.Failed() && os.Getenv("GATEHOUSE_DRILL_KEEP") == "" {
			os.RemoveAll(work)
		} else {
			fmt.Printf("drill files kept in %s\n", work)
		}
	})

	primary, standby := primaryAndStandby(t, bin, work)
	// After the promotion the standby must not wait for a standby of its own.
	standby.exec(t, "postgres", "SELECT 1")
	f, _ := os.OpenFile(filepath.Join(standby.dir, "postgresql.auto.conf"), os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintln(f, "synchronous_standby_names = ''")
	f.Close()

	dbURL := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/gatehouse?target_session_attrs=read-write&sslmode=disable&connect_timeout=3",
		primary.port, standby.port)
	gh := filepath.Join(work, "gatehouse")
	if out, err := exec.Command("go", "build", "-o", gh, ".").CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	portA, portB := freePort(t), freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", portA)
	env := []string{"DATABASE_URL=" + dbURL, "GATEHOUSE_BASE_URL=" + base, "GATEHOUSE_SECRET_KEY=" + hex.EncodeToString(secret),
		"GATEHOUSE_LOG_LEVEL=warn", "GATEHOUSE_REQUEST_TIMEOUT=5s", "GATEHOUSE_DATA_DIR=" + filepath.Join(work, "data")}
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(gh, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	idp := samltest.New(t, "https://idp.example")
	meta := filepath.Join(work, "idp.xml")
	if err := os.WriteFile(meta, idp.Metadata(), 0o644); err != nil {
		t.Fatal(err)
	}
	cli("migrate")
	cli("user", "create", "--email", "owner@example.test", "--name", "Owner", "--password", "drill password 1")
	cli("org", "create", "--slug", "acme", "--name", "Acme", "--owner", "owner@example.test")
	cli("sso", "configure", "--org", "acme", "--provider", "okta", "--metadata-file", meta, "--map", "identifier=NameID,email=email", "--activate")
	tok := regexp.MustCompile(`Auth Token: (\S+)`).FindStringSubmatch(cli("scim", "enable", "--org", "acme"))
	if tok == nil {
		t.Fatal("no SCIM token")
	}

	d := &drill{t: t, token: tok[1], idp: idp, sp: samlsp.NewSP(base, "acme"), acked: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second}}
	for i, port := range []int{portA, portB} {
		in := &instance{name: string(rune('A' + i)), bin: gh, addr: fmt.Sprintf("127.0.0.1:%d", port), env: env,
			logPath: filepath.Join(work, fmt.Sprintf("gatehouse-%c.log", 'A'+i))}
		in.start(t)
		t.Cleanup(in.kill)
		d.insts = append(d.insts, in)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < drillSCIMWorkers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); d.scimWorker(stop) }()
	}
	for i := 0; i < drillSSOWorkers; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); d.ssoWorker(stop) }()
	}

	var before []*http.Client // sessions made before the failover
	phases := []*phase{
		{name: "steady load", inject: func() {}},
		{name: "restart primary", inject: func() { primary.stop(syscall.SIGINT); primary.start(t) }},
		{name: "freeze primary 10 s", inject: func() {
			primary.signalAll(syscall.SIGSTOP)
			time.Sleep(10 * time.Second)
			primary.signalAll(syscall.SIGCONT)
		}},
		{name: "kill -9 instance A", inject: func() {
			d.insts[0].kill()
			time.Sleep(2 * time.Second)
			d.insts[0].start(t)
		}},
		{name: "failover", inject: func() {
			d.mu.Lock()
			before = append(before, d.sessions...)
			d.mu.Unlock()
			primary.stop(syscall.SIGKILL)
			standby.exec(t, "postgres", "SELECT pg_promote(true, 60)")
		}},
	}
	for _, p := range phases {
		p.from = time.Now()
		p.inject()
		p.fault = time.Since(p.from)
		p.healthyBy = d.waitHealthy(90 * time.Second)
		time.Sleep(drillSteady)
		p.to = time.Now()
	}
	close(stop)
	wg.Wait()

	// Verify on the new primary.
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, standby.url("gatehouse"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var orgID int64
	if err := conn.QueryRow(ctx, "SELECT id FROM organizations WHERE slug = 'acme'").Scan(&orgID); err != nil {
		t.Fatal(err)
	}
	lost, verified := 0, 0
	for name := range d.acked {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM members WHERE org_id = $1 AND lower(email) = lower($2)", orgID, name).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 1 {
			verified++
		} else {
			lost++
			t.Errorf("acknowledged write %s: %d members on the new primary", name, n)
		}
	}
	var dups int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM (SELECT lower(email) FROM members WHERE org_id = $1 GROUP BY 1 HAVING count(*) > 1) d", orgID).Scan(&dups); err != nil {
		t.Fatal(err)
	}
	if dups > 0 {
		t.Errorf("%d duplicated members", dups)
	}
	validSessions := 0
	for i, c := range before {
		in := d.insts[i%len(d.insts)]
		res, err := c.Get("http://" + in.addr + "/organizations/acme/")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				validSessions++
			}
		}
	}
	if len(before) == 0 || validSessions != len(before) {
		t.Errorf("sessions made before the failover still valid after it: %d of %d", validSessions, len(before))
	}

	// Summary.
	bad := 0
	fmt.Printf("\nFailover drill: primary :%d + synchronous standby :%d, instances A :%d and B :%d, %d SCIM + %d SSO clients\n",
		primary.port, standby.port, portA, portB, drillSCIMWorkers, drillSSOWorkers)
	fmt.Printf("%-22s %7s %8s %8s  %s\n", "phase", "fault s", "outage s", "healthy", "requests by status (0 = no answer: connection refused/reset)")
	allStatus := map[int]int{}
	for _, p := range phases {
		p.statusSeen = map[int]int{}
		// A request belongs to the phase in which it was answered (one in flight when a
		// fault starts is that fault's); the outage runs from the fault's start to the
		// end of the last failed answer (a 503 or none) of the phase.
		var lastBad time.Time
		for _, s := range d.samples {
			if s.end.Before(p.from) || !s.end.Before(p.to) {
				continue
			}
			p.statusSeen[s.status]++
			allStatus[s.status]++
			if (s.status == 0 || s.status >= 500) && s.end.After(lastBad) {
				lastBad = s.end
			}
			if s.status >= 500 && s.status != http.StatusServiceUnavailable {
				bad++
			}
		}
		if !lastBad.IsZero() {
			p.outage = lastBad.Sub(p.from)
		}
		if !p.healthyBy {
			t.Errorf("%s: not healthy again within 90 s", p.name)
		}
		fmt.Printf("%-22s %7.1f %8.1f %8v  %s\n", p.name, p.fault.Seconds(), p.outage.Seconds(), p.healthyBy, statusLine(p.statusSeen))
	}
	fmt.Printf("%-22s %7s %8s %8s  %s\n", "total", "", "", "", statusLine(allStatus))
	fmt.Println("fault: the injection itself; outage: from the fault's start to the end of the last failed answer (503 or none)")
	fmt.Printf("acknowledged SCIM writes: %d, verified on the new primary: %d, lost: %d, duplicated members: %d\n", len(d.acked), verified, lost, dups)
	fmt.Printf("409 on a retry after a 503 or a lost answer (created by the attempt the client did not see succeed): %d\n", d.retried)
	fmt.Printf("SSO sessions made before the failover still valid after it: %d of %d\n\n", validSessions, len(before))
	if bad > 0 {
		t.Errorf("%d answers were 5xx other than 503", bad)
	}
	if len(d.acked) == 0 {
		t.Error("no SCIM write was acknowledged: the load did not run")
	}
	keep = t.Failed()
}

func statusLine(m map[int]int) string {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%d:%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}
