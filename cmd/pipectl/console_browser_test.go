package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the console screenshots the browser test takes to docs/console/")

// chromium finds Debian's chromium (.ci/run installs it); without it the
// browser tests skip, or fail when services are required (CI).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("PIPECTL_REQUIRE_SERVICES") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium); PIPECTL_REQUIRE_SERVICES is set")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser opens a headless Chromium tab, closed when the test ends, and
// records the URL of every request the page makes.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1360, 900))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelT(); cancelC(); cancelA() })
	var mu sync.Mutex
	var urls []string
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			urls = append(urls, e.Request.URL)
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), urls...)
	}
}

// screenshot saves the page; -update-screenshots writes it where README
// shows it, so the pictures there come from this test.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if *updateScreenshots {
		dir = filepath.Join("..", "..", "docs", "console")
		os.MkdirAll(dir, 0o755)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConsoleInABrowser runs examples/shopify-orders-to-wms under the
// built binary and walks the console in headless Chromium: an operator
// signs in with a token; the overview shows the pipeline degraded and the
// open dead-letter group with no click; the pipeline page draws the DAG
// with live counts; a signed webhook body a proxy cut short (kept as a
// dead letter) is edited to the whole order, previewed, replayed, reaches
// the WMS and resolves itself. A viewer then sees no enabled write
// control. Nothing the pages load comes from outside the console.
func TestConsoleInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: a browser and a serve process")
	}
	chromium(t)
	order := shopifyOrder(t)

	var mu sync.Mutex
	var atWMS []string
	wms := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		atWMS = append(atWMS, r.URL.Path+" "+string(b))
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer wms.Close()

	dir := t.TempDir()
	stateURL := "sqlite://" + dir + "/state/"
	inv := filepath.Join(dir, "inventory.yaml")
	os.WriteFile(inv, []byte(`locations:
  - {id: wh-east, name: Newark, priority: 1}
  - {id: wh-west, name: Reno, priority: 2}
levels:
  IPOD2008GREEN: {wh-east: 10, wh-west: 10}
  IPOD2008RED: {wh-east: 2, wh-west: 5}
  IPOD2008BLACK: {wh-east: 1}
  IPOD2008BLUE: {wh-east: 3, wh-west: 10}
`), 0o644)
	if _, stderr, code := pipectlCmd(t, "inventory", "load", "--state", stateURL, inv); code != 0 {
		t.Fatalf("inventory load: %s", stderr)
	}
	operator, _, code := pipectlCmd(t, "tokens", "create", "ops-laptop", "--role", "operator", "--state", stateURL)
	viewer, _, code2 := pipectlCmd(t, "tokens", "create", "grafana", "--role", "viewer", "--state", stateURL)
	if code != 0 || code2 != 0 {
		t.Fatal("tokens create failed")
	}
	operator, viewer = strings.TrimSpace(operator), strings.TrimSpace(viewer)

	addr := freeAddr(t)
	t.Setenv("SHOPIFY_WEBHOOK_SECRET", "console-secret")
	t.Setenv("WMS_URL", wms.URL)
	t.Setenv("STORE_URL", wms.URL)
	t.Setenv("WMS_TOKEN", "wms-token")
	t.Setenv("DEAD_LETTERS", filepath.Join(dir, "failed.ndjson"))
	// A copy of the example: the rules change below writes its rules file.
	example := filepath.Join(dir, "shopify-orders-to-wms")
	os.MkdirAll(example, 0o755)
	for _, name := range []string{"pipeline.yaml", "rules.yaml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "examples", "shopify-orders-to-wms", name))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(example, name), b, 0o644)
	}
	startServe(t, addr, dir+"/state", example)
	base := "http://" + addr

	// The storefront's webhook, cut short on the way: signed, not JSON.
	cut := order[:len(order)/2]
	if got := signedPost(t, base+"/hooks/shopify/orders-create", cut, "console-secret"); got != http.StatusBadRequest {
		t.Fatalf("a cut body: %d, want 400", got)
	}

	ctx, requests := browser(t)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, steps...); err != nil {
			t.Fatal(err)
		}
	}
	html := func(ctx context.Context, sel chromedp.CSS) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.OuterHTML(sel))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	do(chromedp.Navigate(base+"/ui/"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), operator),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("section.attention")))
	overview := html(ctx, "main")
	for _, want := range []string{"1 degraded", "the body is not JSON", "1 open dead letter"} {
		if !strings.Contains(overview, want) {
			t.Errorf("the overview, with no click, lacks %q:\n%s", want, overview)
		}
	}
	screenshot(t, ctx, "overview.png")

	do(chromedp.Navigate(base+"/ui/pipelines/shopify-orders-to-wms"),
		chromedp.WaitVisible(chromedp.CSS("figure.dag svg")))
	pipelinePage := html(ctx, "main")
	if !strings.Contains(pipelinePage, `data-node="allocate"`) || !strings.Contains(pipelinePage, `<li tabindex="0" data-node="wms">`) {
		t.Errorf("the pipeline page lacks the DAG or its node list")
	}
	screenshot(t, ctx, "pipeline.png")

	// The dead letter: open it, put the whole order in, save, preview, replay.
	do(chromedp.Navigate(base+"/ui/dlq"),
		chromedp.Click(chromedp.CSS("table:last-of-type tbody a")),
		chromedp.WaitVisible(chromedp.ID("payload")))
	entry, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	screenshot(t, ctx, "dead-letter.png")
	do(chromedp.SetValue(chromedp.ID("payload"), string(order)),
		chromedp.SendKeys(chromedp.ID("edit-reason"), "the proxy cut the body; the whole order from Shopify's admin"),
		chromedp.Submit(chromedp.ID("payload")),
		chromedp.WaitVisible(chromedp.Search(`//h2[text()="Edited payload (what a replay sends)"]`)),
		chromedp.Click(chromedp.Search(`//button[text()="Preview (dry run)"]`)),
		chromedp.WaitVisible(chromedp.CSS("section.replay")))
	preview := html(ctx, "main")
	if !strings.Contains(preview, "would go through") || !strings.Contains(preview, "wms would receive 1") {
		t.Errorf("the preview does not show the pick ticket the WMS would get:\n%s", preview)
	}
	mu.Lock()
	before := len(atWMS)
	mu.Unlock()
	if before != 0 {
		t.Fatalf("the WMS got %d requests before the replay (a dry run sent something?)", before)
	}
	do(chromedp.Navigate(entry),
		chromedp.Click(chromedp.Search(`//button[text()="Replay now"]`)),
		chromedp.WaitVisible(chromedp.CSS("section.replay")))
	replayed := html(ctx, "main")
	if !strings.Contains(replayed, "delivered, resolved") {
		t.Errorf("the replay did not go through:\n%s", replayed)
	}
	mu.Lock()
	gotWMS := strings.Join(atWMS, "\n")
	mu.Unlock()
	if !strings.Contains(gotWMS, "/pick-tickets") || !strings.Contains(gotWMS, `"order_id":"450789469"`) {
		t.Errorf("the WMS did not get the replayed order's pick ticket:\n%s", gotWMS)
	}

	// The order, found by its id: its timeline and why it was allocated so.
	do(chromedp.Navigate(base+"/ui/orders"),
		chromedp.SendKeys(chromedp.ID("q"), "450789469"),
		chromedp.Submit(chromedp.ID("q")),
		chromedp.WaitVisible(chromedp.CSS("section.explain")))
	explain := html(ctx, "main")
	for _, want := range []string{"<strong>allocated</strong>", "<strong>dead letter resolved</strong>", "(rules.yaml:", "IPOD2008BLACK"} {
		if !strings.Contains(explain, want) {
			t.Errorf("the order page lacks %q:\n%s", want, explain)
		}
	}
	screenshot(t, ctx, "order-explain.png")

	// boxes counts the pick tickets the WMS got for an order.
	boxes := func(id int) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, r := range atWMS {
			if strings.HasPrefix(r, "/pick-tickets ") && strings.Contains(r, fmt.Sprintf(`"order_id":"%d"`, id)) {
				n++
			}
		}
		return n
	}

	// A second order, of 12 green iPods: more than wh-east can give, so it
	// ships in two boxes.
	var second map[string]any
	json.Unmarshal(order, &second)
	items := second["line_items"].([]any)
	green := items[0].(map[string]any)
	green["quantity"] = 12
	second["line_items"], second["id"], second["name"], second["order_number"] = []any{green}, 450789470, "#1002", 1002
	secondBody, _ := json.Marshal(second)
	if got := signedPost(t, base+"/hooks/shopify/orders-create", secondBody, "console-secret"); got != http.StatusOK {
		t.Fatalf("the second order: %d", got)
	}
	eventuallyE2E(t, 30*time.Second, func() string { return "the second order never reached the WMS" }, func() bool { return boxes(450789470) == 2 })

	// The safe rule change: split shipments off (one box per order),
	// reviewed with the backtest of the orders so far — the two-box order
	// would ship one box and backorder the rest —, applied with a reason;
	// the history shows who and why.
	do(chromedp.Navigate(base+"/ui/rules/shopify-orders-to-wms"),
		chromedp.SetValue(chromedp.ID("changes"), "fulfillment.split.max_shipments=1"),
		chromedp.Submit(chromedp.ID("changes")),
		chromedp.WaitVisible(chromedp.CSS("section.plan")))
	review := html(ctx, "main")
	if !strings.Contains(review, "<td><code>fulfillment.split.max_shipments</code></td><td><code>2</code></td><td><code>1</code></td>") ||
		!strings.Contains(review, "<strong>1</strong> of 2 would come out differently") || !strings.Contains(review, "<td>split</td><td>backordered</td>") ||
		!strings.Contains(review, "450789470") {
		t.Errorf("the review does not show the change and its backtest:\n%s", review)
	}
	screenshot(t, ctx, "rules-review.png")

	// A second operator, in another tab, reviews the same change and
	// applies it first: the first tab's review is stale now, and its apply
	// gets 409 and changes nothing.
	tab2, closeTab2 := chromedp.NewContext(ctx)
	defer closeTab2()
	if err := chromedp.Do(tab2, chromedp.Navigate(base+"/ui/rules/shopify-orders-to-wms"),
		chromedp.SetValue(chromedp.ID("changes"), "fulfillment.split.max_shipments=1"),
		chromedp.Submit(chromedp.ID("changes")),
		chromedp.WaitVisible(chromedp.CSS("section.plan")),
		chromedp.SendKeys(chromedp.ID("apply-reason"), "peak season: one box per order"),
		chromedp.Submit(chromedp.ID("apply-reason")),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Applied")]`))); err != nil {
		t.Fatal(err)
	}
	rulesAfter, _ := os.ReadFile(filepath.Join(example, "rules.yaml"))
	do(chromedp.SendKeys(chromedp.ID("apply-reason"), "the same, from a review made before"),
		chromedp.Submit(chromedp.ID("apply-reason")),
		chromedp.WaitVisible(chromedp.CSS("p.error")))
	if stale := html(ctx, "main"); !strings.Contains(stale, "409") {
		t.Errorf("a stale apply did not get 409:\n%s", stale)
	}
	if b, _ := os.ReadFile(filepath.Join(example, "rules.yaml")); !bytes.Equal(b, rulesAfter) {
		t.Errorf("a stale apply changed the rules file")
	}
	do(chromedp.Navigate(base+"/ui/audit"),
		chromedp.WaitVisible(chromedp.Search(`//td[text()="rules.apply"]`)))
	audit := html(ctx, "main")
	if !strings.Contains(audit, "peak season: one box per order") || strings.Count(audit, "<td>rules.apply</td>") != 1 {
		t.Errorf("the history should show the one applied rules change:\n%s", audit)
	}

	// The next order of 12 green iPods ships in one box, the rest
	// backordered; rolled back, an order more than one warehouse holds
	// ships in two again.
	orderOf := func(id int, sku string, qty int) {
		t.Helper()
		line := map[string]any{}
		for k, v := range green {
			line[k] = v
		}
		line["sku"], line["quantity"] = sku, qty
		second["line_items"], second["id"], second["name"], second["order_number"] = []any{line}, id, fmt.Sprintf("#%d", id), id
		body, _ := json.Marshal(second)
		if got := signedPost(t, base+"/hooks/shopify/orders-create", body, "console-secret"); got != http.StatusOK {
			t.Fatalf("order %d: %d", id, got)
		}
	}
	explained := func(id int) string {
		t.Helper()
		do(chromedp.Navigate(fmt.Sprintf("%s/ui/orders?q=%d", base, id)), chromedp.WaitVisible(chromedp.CSS("section.explain")))
		return html(ctx, "section.explain")
	}
	orderOf(450789471, "IPOD2008GREEN", 12)
	eventuallyE2E(t, 30*time.Second, func() string { return "the order after the change never reached the WMS" }, func() bool { return boxes(450789471) > 0 })
	if n, e := boxes(450789471), explained(450789471); n != 1 || !strings.Contains(e, `<td class="num">7</td>`) {
		t.Errorf("after split shipments off, the next order went in %d boxes (want 1), explained:\n%s", n, e)
	}
	do(chromedp.Navigate(base+"/ui/rules/shopify-orders-to-wms"),
		chromedp.Click(chromedp.Search(`//button[text()="Roll back"]`)),
		chromedp.WaitVisible(chromedp.CSS("section.plan")))
	if back := html(ctx, "section.plan"); !strings.Contains(back, "<td><code>fulfillment.split.max_shipments</code></td><td><code>1</code></td><td><code>2</code></td>") {
		t.Errorf("the rollback does not plan max_shipments back to 2:\n%s", back)
	}
	do(chromedp.SendKeys(chromedp.ID("apply-reason"), "peak is over"),
		chromedp.Submit(chromedp.ID("apply-reason")),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "Applied")]`)))
	// 6 blue: 2 of them allocatable at wh-east, the rest at wh-west.
	orderOf(450789472, "IPOD2008BLUE", 6)
	eventuallyE2E(t, 30*time.Second, func() string { return "the order after the rollback never went in two boxes" }, func() bool { return boxes(450789472) == 2 })

	// A page of another origin on this machine posts to the console from
	// the same browser, whose session cookie goes with it: 403, and the
	// pipeline is not paused.
	evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><form id="f" method="post" action="%s/ui/pipelines/shopify-orders-to-wms/pause"></form><script>document.getElementById("f").submit()</script>`, base)
	}))
	defer evil.Close()
	tab3, closeTab3 := chromedp.NewContext(ctx)
	defer closeTab3()
	if err := chromedp.Do(tab3, chromedp.Navigate(evil.URL),
		chromedp.WaitVisible(chromedp.Search(`//p[contains(., "cross-origin")]`))); err != nil {
		t.Fatal(err)
	}
	if got := html(tab3, "main"); !strings.Contains(got, "403") {
		t.Errorf("a cross-origin POST was not refused with 403:\n%s", got)
	}
	do(chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS("section.status")))
	if strings.Contains(html(ctx, "main"), " paused</span>") {
		t.Errorf("a cross-origin POST paused the pipeline")
	}

	// A viewer: another dead letter, and not one enabled write control.
	if got := signedPost(t, base+"/hooks/shopify/orders-create", cut, "console-secret"); got != http.StatusBadRequest {
		t.Fatalf("a second cut body: %d", got)
	}
	vctx, _ := browser(t)
	if err := chromedp.Do(vctx, chromedp.Navigate(base+"/ui/login"),
		chromedp.WaitVisible(chromedp.ID("token")),
		chromedp.SendKeys(chromedp.ID("token"), viewer),
		chromedp.Submit(chromedp.ID("token")),
		chromedp.WaitVisible(chromedp.CSS("section.status")),
		chromedp.Navigate(base+"/ui/dlq"),
		chromedp.Click(chromedp.CSS("table:last-of-type tbody a")),
		chromedp.WaitVisible(chromedp.CSS(".facts"))); err != nil {
		t.Fatal(err)
	}
	enabled, err := chromedp.Run(vctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll('main button, main input:not([type=hidden]), main textarea')).filter(e => !e.disabled).length`))
	if err != nil {
		t.Fatal(err)
	}
	page := html(vctx, "main")
	if enabled != 0 || !strings.Contains(page, "your role (viewer) may not do this") {
		t.Errorf("a viewer has %d enabled write controls:\n%s", enabled, page)
	}

	// A read-only console: every write control disabled, with the reason.
	roDir := t.TempDir()
	roAddr := freeAddr(t)
	ro := exec.Command(pipectlBinary(t), "serve", "--listen", roAddr, "--state", "sqlite://"+roDir+"/", "--read-only", example)
	ro.Env = e2eEnv()
	if err := ro.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ro.Process.Kill(); ro.Wait() }()
	for i := 0; i < 200 && readyz(roAddr) != http.StatusOK; i++ {
		time.Sleep(25 * time.Millisecond)
	}
	if got := signedPost(t, "http://"+roAddr+"/hooks/shopify/orders-create", cut, "console-secret"); got != http.StatusBadRequest {
		t.Fatalf("a cut body at the read-only serve: %d", got)
	}
	rctx, _ := browser(t)
	if err := chromedp.Do(rctx, chromedp.Navigate("http://"+roAddr+"/ui/dlq"),
		chromedp.Click(chromedp.CSS("table:last-of-type tbody a")),
		chromedp.WaitVisible(chromedp.CSS(".facts"))); err != nil {
		t.Fatal(err)
	}
	roEnabled, err := chromedp.Run(rctx, chromedp.Evaluate[int](`Array.from(document.querySelectorAll('main button, main input:not([type=hidden]), main textarea')).filter(e => !e.disabled).length`))
	if err != nil {
		t.Fatal(err)
	}
	if roPage := html(rctx, "main"); roEnabled != 0 || !strings.Contains(roPage, "the console is read-only") {
		t.Errorf("a read-only console has %d enabled write controls:\n%s", roEnabled, roPage)
	}

	// Beyond loopback with no token in force, serve refuses to start.
	open := exec.Command(pipectlBinary(t), "serve", "--listen", "0.0.0.0:0", "--state", "sqlite://"+t.TempDir()+"/", example)
	open.Env = e2eEnv()
	if out, err := open.CombinedOutput(); err == nil || !strings.Contains(string(out), "no token is in force") {
		t.Errorf("serve --listen 0.0.0.0 with no token: err %v, output:\n%s", err, out)
	}

	for _, u := range requests() {
		if !strings.HasPrefix(u, base+"/") && !strings.HasPrefix(u, "data:") {
			t.Errorf("the console loaded %s, outside the machine's console", u)
		}
	}
}

// shopifyOrder is shopify_python_api's order.json (MIT, copied with its
// licence into the example), the order alone, as an orders/create webhook
// carries it.
func shopifyOrder(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "shopify-orders-to-wms", "testdata", "fixtures", "shopify_python_api", "order.json"))
	if err != nil {
		t.Fatal(err)
	}
	var wrapped struct {
		Order json.RawMessage `json:"order"`
	}
	if err := json.Unmarshal(b, &wrapped); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	json.Compact(&out, wrapped.Order)
	return out.Bytes()
}

func signedPost(t *testing.T, url string, body []byte, secret string) int {
	t.Helper()
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("X-Shopify-Hmac-Sha256", base64.StdEncoding.EncodeToString(m.Sum(nil)))
	req.Header.Set("X-Shopify-Topic", "orders/create")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
