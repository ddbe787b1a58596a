//! A real headless Chromium driven over WebDriver, for tests that use a
//! store as shoppers do: pages, forms, clicks, screenshots and an axe-core
//! accessibility check.
//!
//! Each [`Browser`] starts its own `chromedriver` on a free port (a child
//! process in a process group of its own, killed with the Chromium it
//! started when the browser is dropped) and opens one session on it.
//! Chromium resolves `*.localhost` to loopback, so a store of a [`Stack`]
//! is reached at [`store_url`]: its domain on the router's port.
//!
//! Chromium, chromedriver and axe-core come from `./scripts/bootstrap.sh`;
//! without them a test fails and says so, it never skips.
//!
//! Every wait is bounded ([`Browser::set_timeout`], 10 s unless changed)
//! and fails the test with what it waited for, the page's URL and the
//! start of its text: a bound, not a timing assertion.

#![allow(dead_code)]

use std::fmt;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::error::CmdError;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use mercato_devstack::local::{free_port, tail};
use serde::Deserialize;
use serde_json::{json, Value};

use super::Stack;

/// How long a wait lasts before it fails the test, unless set otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a wait looks again.
const POLL: Duration = Duration::from_millis(50);

pub const DESKTOP: (u32, u32) = (1366, 900);
/// An ordinary phone's CSS viewport (iPhone 12 to 14), emulated by Chromium
/// with its pixel ratio and touch.
pub const PHONE: (u32, u32) = (390, 844);
const PHONE_PIXEL_RATIO: f64 = 3.0;

/// `http://{host}:{router port}{path}`: a page of the store at `host`
/// (`{handle}.localhost`) through the stack's router, as a browser reaches
/// it.
pub fn store_url(stack: &Stack, host: &str, path: &str) -> String {
    format!("http://{host}:{}{path}", stack.router.addr.port())
}

/// An executable: `$var` if set, else the first of `names` on `PATH`.
fn locate(var: &str, names: &[&str]) -> PathBuf {
    if let Some(path) = std::env::var_os(var) {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "${var} is {}, which is not a file: unset it or run ./scripts/bootstrap.sh",
            path.display()
        );
        return path;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for name in names {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    panic!(
        "{} not found on PATH (nor ${var} set): run ./scripts/bootstrap.sh to install it",
        names.join(" / ")
    );
}

/// `.tools/axe-core/axe.min.js`, vendored by `./scripts/bootstrap.sh`.
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "axe-core not found at {} ({e}): run ./scripts/bootstrap.sh",
            path.display()
        )
    })
}

/// A `chromedriver` child process; it and the browsers it started are
/// killed on drop.
struct Driver {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Driver {
    async fn start() -> Driver {
        let bin = locate("CHROMEDRIVER", &["chromedriver"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let mut last = String::new();
        // Another process may take the free port before chromedriver binds
        // it: try again on another one.
        for _ in 0..3 {
            let port = free_port().expect("free port");
            let log = dir.path().join(format!("chromedriver-{port}.log"));
            let mut child = Command::new(&bin)
                .arg(format!("--port={port}"))
                .arg(format!("--log-path={}", log.display()))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                // Its own process group, so that dropping it also ends the
                // Chromium processes it starts.
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
            match Self::ready(&mut child, port).await {
                Ok(()) => {
                    return Driver {
                        child,
                        port,
                        log,
                        _dir: dir,
                    }
                }
                Err(e) => {
                    kill_group(&mut child);
                    last = format!("{e}\n{}", tail(&log));
                }
            }
        }
        panic!("chromedriver did not start: {last}");
    }

    /// Waits until chromedriver answers `/status` as ready.
    async fn ready(child: &mut Child, port: u16) -> Result<(), String> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()
            .expect("client");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(r) = http
                .get(format!("http://127.0.0.1:{port}/status"))
                .send()
                .await
            {
                if let Ok(status) = r.json::<Value>().await {
                    if status["value"]["ready"] == true {
                        return Ok(());
                    }
                }
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("chromedriver exited ({status})"));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err("chromedriver did not answer /status within 15 s".into());
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn dim_of(pair: &Value, i: usize) -> u64 {
    pair[i].as_u64().expect("a viewport size")
}

fn kill_group(child: &mut Child) {
    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;
    if let Ok(pid) = i32::try_from(child.id()) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Drop for Driver {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

/// A violation axe-core found, of impact `serious` or `critical`.
#[derive(Debug, Clone, Deserialize)]
pub struct AxeViolation {
    /// The rule, e.g. `color-contrast`.
    pub id: String,
    pub impact: String,
    /// What the rule asks for.
    pub help: String,
    #[serde(rename = "helpUrl")]
    pub help_url: String,
    /// The CSS selectors of the offending elements.
    pub targets: Vec<String>,
}

impl fmt::Display for AxeViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "[{}] {}: {} ({}) at {}",
            self.impact,
            self.id,
            self.help,
            self.help_url,
            self.targets.join(", ")
        )
    }
}

/// A headless Chromium session; see the module's documentation.
pub struct Browser {
    client: Client,
    timeout: Duration,
    // Dropped after the client: kills chromedriver and its browser.
    _driver: Driver,
}

impl Browser {
    /// A desktop browser, its viewport 1366×900.
    pub async fn desktop() -> Browser {
        Self::open(
            &[&format!("--window-size={},{}", DESKTOP.0, DESKTOP.1)],
            Some(DESKTOP),
            None,
        )
        .await
    }

    /// A phone: Chromium's mobile emulation of a 390×844 viewport (pixel
    /// ratio 3, touch, mobile layout).
    pub async fn phone() -> Browser {
        Self::open(
            &[&format!("--window-size={},{}", PHONE.0, PHONE.1)],
            None,
            Some(json!({
                "deviceMetrics": {
                    "width": PHONE.0,
                    "height": PHONE.1,
                    "pixelRatio": PHONE_PIXEL_RATIO,
                    "mobile": true,
                    "touch": true,
                }
            })),
        )
        .await
    }

    /// A session with Chromium's `extra_args`, then either a `viewport`
    /// (the window fitted to it) or `mobile` emulation.
    async fn open(
        extra_args: &[&str],
        viewport: Option<(u32, u32)>,
        mobile: Option<Value>,
    ) -> Browser {
        let chromium = locate(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let driver = Driver::start().await;
        let mut args = vec![
            "--headless=new",
            // Chromium refuses to sandbox as root (tests run as root here),
            // and there is no GPU nor a big /dev/shm in a container.
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--hide-scrollbars",
            // Screenshots in sRGB, whatever the host display's profile.
            "--force-color-profile=srgb",
        ];
        args.extend_from_slice(extra_args);
        let mut chrome_options = json!({
            "binary": chromium.display().to_string(),
            "args": args,
        });
        if let Some(mobile) = mobile {
            chrome_options["mobileEmulation"] = mobile;
        }
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert("goog:chromeOptions".into(), chrome_options);
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&driver.url())
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "Chromium ({}) did not start a session: {e}\n{}",
                    chromium.display(),
                    tail(&driver.log)
                )
            });
        let browser = Browser {
            client,
            timeout: DEFAULT_TIMEOUT,
            _driver: driver,
        };
        if let Some((width, height)) = viewport {
            browser.fit_viewport(width, height).await;
        }
        browser
    }

    /// Sizes the window so that its viewport is `width`×`height`: headless
    /// Chromium's window counts a toolbar it does not draw (`--window-size`
    /// 1366,900 gives a 1366×757 page).
    async fn fit_viewport(&self, width: u32, height: u32) {
        let inner = self
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        let (w, h) = self.client.get_window_size().await.expect("window size");
        let dim = |i: usize| dim_of(&inner, i);
        let outer_w = u64::from(width) + w.saturating_sub(dim(0));
        let outer_h = u64::from(height) + h.saturating_sub(dim(1));
        self.client
            .set_window_size(
                u32::try_from(outer_w).expect("width"),
                u32::try_from(outer_h).expect("height"),
            )
            .await
            .expect("resizing the window");
        let inner = self
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await;
        assert_eq!(
            (dim_of(&inner, 0), dim_of(&inner, 1)),
            (u64::from(width), u64::from(height)),
            "the viewport after resizing the window"
        );
    }

    /// The bound of every wait from now on.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The fantoccini client, for what the helpers do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits until it has loaded.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("opening {url}: {e}"));
    }

    pub async fn current_url(&self) -> String {
        self.client
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| format!("<no url: {e}>"))
    }

    pub async fn title(&self) -> String {
        self.client.title().await.expect("page title")
    }

    /// The page's HTML as the browser has it now.
    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// The visible text of the page (`document.body.innerText`).
    pub async fn text(&self) -> String {
        let v = self
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running a script: {e}"))
    }

    /// The element matching `css` now; fails the test if there is none.
    pub async fn find(&self, css: &str) -> Element {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e,
            Err(e) => panic!(
                "{}",
                self.failure(&format!("no element '{css}' ({e})")).await
            ),
        }
    }

    /// Every element matching `css` now (maybe none).
    pub async fn find_all(&self, css: &str) -> Vec<Element> {
        self.client
            .find_all(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("finding '{css}': {e}"))
    }

    /// Waits until an element matches `css` and is displayed; it.
    pub async fn wait_for(&self, css: &str) -> Element {
        self.wait_until(&format!("element '{css}' is visible"), || async {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                if element.is_displayed().await.unwrap_or(false) {
                    return Some(element);
                }
            }
            None
        })
        .await
    }

    /// Waits until `text` is in the page's visible text.
    pub async fn wait_for_text(&self, text: &str) {
        self.wait_until(&format!("the page shows '{text}'"), || async {
            let shown = self
                .client
                .execute(
                    "return document.body ? document.body.innerText : '';",
                    vec![],
                )
                .await
                .ok()?;
            shown.as_str()?.contains(text).then_some(())
        })
        .await
    }

    /// Waits until a displayed element matching `css` contains `text`; it.
    pub async fn wait_for_text_in(&self, css: &str, text: &str) -> Element {
        self.wait_until(&format!("'{css}' shows '{text}'"), || async {
            for element in self.client.find_all(Locator::Css(css)).await.ok()? {
                if element.text().await.is_ok_and(|t| t.contains(text)) {
                    return Some(element);
                }
            }
            None
        })
        .await
    }

    /// Waits until no element matches `css`.
    pub async fn wait_for_gone(&self, css: &str) {
        self.wait_until(&format!("no element '{css}'"), || async {
            self.client
                .find_all(Locator::Css(css))
                .await
                .ok()?
                .is_empty()
                .then_some(())
        })
        .await
    }

    /// Polls `probe` until it yields, at most [`Browser::set_timeout`];
    /// fails the test with `what` and the page it was on.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, mut probe: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Option<T>>,
    {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            if let Some(v) = probe().await {
                return v;
            }
            if tokio::time::Instant::now() >= deadline {
                let why = format!("timed out after {:?} waiting until {what}", self.timeout);
                panic!("{}", self.failure(&why).await);
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// `why`, the page's URL and the start of its text.
    async fn failure(&self, why: &str) -> String {
        let text = self
            .client
            .execute(
                "return document.body ? document.body.innerText : '';",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let text: String = text.chars().take(1_000).collect();
        format!(
            "{why}\n  page: {}\n  text: {text}",
            self.current_url().await
        )
    }

    /// Clears the input matching `css` and types `value` into it.
    pub async fn fill(&self, css: &str, value: &str) {
        let input = self.wait_for(css).await;
        input
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing '{css}': {e}"));
        input
            .send_keys(value)
            .await
            .unwrap_or_else(|e| panic!("typing into '{css}': {e}"));
    }

    /// Selects the option of the `<select>` matching `css` whose value is
    /// `value`.
    pub async fn select(&self, css: &str, value: &str) {
        self.wait_for(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("selecting '{value}' in '{css}': {e}"));
    }

    /// Clicks the displayed element matching `css` (waiting for it).
    pub async fn click(&self, css: &str) {
        let element = self.wait_for(css).await;
        if let Err(e) = element.click().await {
            panic!("{}", self.failure(&format!("clicking '{css}': {e}")).await);
        }
    }

    /// Writes a PNG of the viewport to `path` (relative paths are from the
    /// workspace root), creating its folder.
    pub async fn screenshot(&self, path: impl AsRef<Path>) -> PathBuf {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot folder");
        }
        std::fs::write(&path, png).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        path
    }

    /// Runs axe-core on the page; its `serious` and `critical` violations.
    pub async fn axe(&self) -> Vec<AxeViolation> {
        let injected = self
            .client
            .execute(&format!("{}\n;return typeof axe;", axe_source()), vec![])
            .await
            .expect("injecting axe-core");
        assert_eq!(injected, "object", "axe-core did not load");
        let run = self
            .client
            .execute_async(
                r#"const done = arguments[arguments.length - 1];
                axe.run(document, { resultTypes: ["violations"] }).then(
                  (r) => done({
                    ok: r.violations
                      .filter((v) => v.impact === "serious" || v.impact === "critical")
                      .map((v) => ({
                        id: v.id,
                        impact: v.impact,
                        help: v.help,
                        helpUrl: v.helpUrl,
                        targets: v.nodes.map((n) => [].concat(n.target).flat(Infinity).join(" ")),
                      })),
                  }),
                  (e) => done({ error: String(e) }),
                );"#,
                vec![],
            )
            .await
            .unwrap_or_else(|e: CmdError| panic!("running axe-core: {e}"));
        if let Some(error) = run.get("error") {
            panic!("axe-core failed: {error}");
        }
        serde_json::from_value(run["ok"].clone()).expect("axe-core's violations")
    }

    /// Fails the test if axe-core finds a serious or critical violation on
    /// the page the browser is on (`page` names it in the report).
    pub async fn assert_accessible(&self, page: &str) {
        let violations = self.axe().await;
        println!("axe on {page}: {} serious/critical", violations.len());
        for v in &violations {
            println!("  {v}");
        }
        assert!(
            violations.is_empty(),
            "axe-core finds serious or critical violations on {page} ({}):\n{}",
            self.current_url().await,
            violations
                .iter()
                .map(|v| format!("  {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }

    /// Ends the session (Chromium quits); dropping the browser also does.
    pub async fn close(self) {
        let Browser {
            client, _driver, ..
        } = self;
        let _ = client.close().await;
    }
}
