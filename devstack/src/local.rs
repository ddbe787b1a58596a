//! Real Postgres clusters and Redis servers as child processes on loopback,
//! for `mercato up` and for the end-to-end tests alike. Nothing is installed
//! as a system service.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context as _};
use nix::sys::signal::{kill, Signal};
use nix::unistd::{Pid, User};
use sqlx::Connection as _;
use tokio::process::{Child, Command};

/// Whether the process `child` itself holds the listening TCP socket on
/// loopback `port`. A readiness probe alone cannot tell our server from
/// another one that took the port first (tests pick free ports in
/// parallel), and a stack wired to a stranger's Postgres runs its
/// migrations into someone else's database.
pub fn child_listens(child: &Child, port: u16) -> bool {
    child.id().is_some_and(|pid| listens(pid, port))
}

fn listens(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_str()?;
            target
                .strip_prefix("socket:[")?
                .strip_suffix(']')?
                .parse::<u64>()
                .ok()
        })
        .any(|inode| inodes.contains(&inode))
}

/// Writes `contents` to `path`, readable by its owner only (`0600`), also
/// over an existing file: secrets (the operator token, keys, passwords).
pub(crate) fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// The processes whose parent is `parent` (from `/proc/<pid>/stat`).
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    // `pid (comm) state ppid ...`; comm may hold spaces.
                    let after = stat.rsplit_once(')')?.1;
                    after.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(parent)
        })
        .collect()
}

/// The inodes of the sockets listening on `port` (`/proc/net/tcp{,6}`).
fn listening_inodes(port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    let wanted = format!("{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .flat_map(|table| {
            table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    let (_, local_port) = fields.get(1)?.rsplit_once(':')?;
                    (local_port == wanted && *fields.get(3)? == LISTEN)
                        .then(|| fields.get(9)?.parse().ok())
                        .flatten()
                })
                .collect::<Vec<u64>>()
        })
        .collect()
}

/// Where the server binaries are.
#[derive(Debug, Clone)]
pub struct Binaries {
    pub pg_bindir: PathBuf,
    pub redis_server: PathBuf,
}

impl Binaries {
    /// Finds Postgres (`MERCATO_PG_BINDIR`, `pg_config --bindir`, or
    /// `/usr/lib/postgresql/*/bin`) and `redis-server`, or says which Debian
    /// package to install.
    pub fn locate() -> anyhow::Result<Self> {
        let pg_bindir = std::env::var_os("MERCATO_PG_BINDIR")
            .map(PathBuf::from)
            .or_else(|| {
                let out = std::process::Command::new("pg_config").arg("--bindir").output().ok()?;
                Some(PathBuf::from(String::from_utf8_lossy(&out.stdout).trim()))
            })
            .filter(|d| d.join("initdb").exists() && d.join("postgres").exists())
            .or_else(|| {
                let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                    .filter(|d| d.join("initdb").exists())
                    .collect();
                dirs.sort();
                dirs.pop()
            })
            .ok_or_else(|| {
                anyhow::anyhow!(
                    "PostgreSQL server binaries (initdb, postgres) not found: install the Debian package \
                     `postgresql-15` (apt-get install -y postgresql-15) or set MERCATO_PG_BINDIR"
                )
            })?;
        let redis_server = which("redis-server").ok_or_else(|| {
            anyhow::anyhow!("`redis-server` not found: install the Debian package `redis-server` (apt-get install -y redis-server)")
        })?;
        Ok(Self {
            pg_bindir,
            redis_server,
        })
    }
}

fn which(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// Postgres refuses to run as root; as root we run it as `postgres` (the
/// user Debian's package creates) or `nobody`.
fn server_user() -> anyhow::Result<Option<User>> {
    if !nix::unistd::geteuid().is_root() {
        return Ok(None);
    }
    for name in ["postgres", "nobody"] {
        if let Some(user) = User::from_name(name)? {
            return Ok(Some(user));
        }
    }
    bail!("running as root and no `postgres` or `nobody` user exists to run Postgres as")
}

fn chown_tree(path: &Path, user: &User) -> anyhow::Result<()> {
    std::os::unix::fs::chown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .with_context(|| format!("chown {}", path.display()))?;
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), user)?;
        }
    }
    Ok(())
}

fn log_file(path: &Path) -> anyhow::Result<(Stdio, Stdio)> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok((Stdio::from(file.try_clone()?), Stdio::from(file)))
}

/// The last lines of a log file, for error messages.
pub fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(15)..].join("\n")
}

/// Sends `signal` to a child and waits up to `grace` for it to exit, then
/// kills it.
pub async fn stop_child(child: &mut Child, signal: Signal, grace: Duration) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid as i32), signal);
    }
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// How a cluster trades durability for speed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// fsync on: what a store's data deserves.
    Durable,
    /// fsync off: throwaway clusters for tests.
    Throwaway,
}

/// A Postgres cluster in a data folder of its own, `wal_level=logical`,
/// with password authentication (user `mercato`; the password is kept in
/// the folder, `0600`).
pub struct PgCluster {
    child: Child,
    port: u16,
    dir: PathBuf,
    /// Empty for a folder made before clusters had passwords (it trusts).
    password: String,
}

/// The file in a cluster's folder that keeps the `mercato` password.
const PG_PASSWORD_FILE: &str = "mercato.password";

impl PgCluster {
    /// Initialises `dir` if it is empty and starts the server on `port`.
    pub async fn start(
        bins: &Binaries,
        dir: &Path,
        port: u16,
        durability: Durability,
    ) -> anyhow::Result<Self> {
        Self::start_with(bins, dir, port, durability, &[]).await
    }

    /// [`PgCluster::start`] with extra server settings (`name=value`).
    pub async fn start_with(
        bins: &Binaries,
        dir: &Path,
        port: u16,
        durability: Durability,
        settings: &[&str],
    ) -> anyhow::Result<Self> {
        let user = server_user()?;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let log = dir.with_extension("log");
        if let Some(user) = &user {
            chown_tree(dir, user)?;
            if log.exists() {
                chown_tree(&log, user)?;
            }
        }
        if !dir.join("PG_VERSION").exists() {
            // Password authentication, as a deployment has: initdb reads
            // the password from a file beside the folder (it must start
            // empty), which is removed once the folder keeps its own copy.
            let password = uuid::Uuid::new_v4().simple().to_string();
            let pwfile = dir.with_extension("pwfile");
            write_private(&pwfile, &password)?;
            if let Some(user) = &user {
                chown_tree(&pwfile, user)?;
            }
            let mut initdb = Command::new(bins.pg_bindir.join("initdb"));
            initdb
                .args(["-D"])
                .arg(dir)
                .args([
                    "-U",
                    "mercato",
                    "-A",
                    "scram-sha-256",
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--no-sync",
                ])
                .arg(format!("--pwfile={}", pwfile.display()))
                .current_dir(dir)
                .stdin(Stdio::null());
            let (out, err) = log_file(&log)?;
            initdb.stdout(out).stderr(err);
            if let Some(user) = &user {
                initdb.uid(user.uid.as_raw()).gid(user.gid.as_raw());
            }
            let status = initdb.status().await.context("running initdb");
            let _ = std::fs::remove_file(&pwfile);
            if !status?.success() {
                bail!("initdb failed for {}:\n{}", dir.display(), tail(&log));
            }
            write_private(&dir.join(PG_PASSWORD_FILE), &password)?;
        }
        let password = Self::stored_password(dir);
        let mut postgres = Command::new(bins.pg_bindir.join("postgres"));
        postgres
            .arg("-D")
            .arg(dir)
            .args(["-p", &port.to_string()])
            .args([
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "unix_socket_directories=",
            ])
            .args([
                "-c",
                "wal_level=logical",
                "-c",
                "max_connections=200",
                "-c",
                "max_replication_slots=20",
                "-c",
                "max_wal_senders=20",
                // Store moves: a subscription copies several tables at once.
                "-c",
                "max_logical_replication_workers=16",
                "-c",
                "max_sync_workers_per_subscription=6",
                "-c",
                "max_worker_processes=24",
            ])
            .current_dir(dir)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        if durability == Durability::Throwaway {
            postgres.args([
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
            ]);
        }
        for setting in settings {
            postgres.args(["-c", setting]);
        }
        let (out, err) = log_file(&log)?;
        postgres.stdout(out).stderr(err);
        if let Some(user) = &user {
            postgres.uid(user.uid.as_raw()).gid(user.gid.as_raw());
        }
        let child = postgres.spawn().context("starting postgres")?;
        let mut cluster = Self {
            child,
            port,
            dir: dir.to_owned(),
            password,
        };
        cluster.wait_ready(&log).await?;
        Ok(cluster)
    }

    async fn wait_ready(&mut self, log: &Path) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(conn) = sqlx::PgConnection::connect(&self.url("postgres")).await {
                let _ = conn.close().await;
                if child_listens(&self.child, self.port) {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "postgres in {} exited ({status}):\n{}",
                    self.dir.display(),
                    tail(log)
                );
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "postgres in {} did not accept connections within 60 s:\n{}",
                    self.dir.display(),
                    tail(log)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// With the password: `postgres://mercato:<password>@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        Self::url_with(&self.password, self.port, database)
    }

    /// The URL of `database` in the cluster kept in `dir` and listening on
    /// `port` (for tools that did not start it, e.g. a benchmark reading
    /// the pods of `mercato up`).
    pub fn url_of(dir: &Path, port: u16, database: &str) -> String {
        Self::url_with(&Self::stored_password(dir), port, database)
    }

    fn url_with(password: &str, port: u16, database: &str) -> String {
        if password.is_empty() {
            format!("postgres://mercato@127.0.0.1:{port}/{database}")
        } else {
            format!("postgres://mercato:{password}@127.0.0.1:{port}/{database}")
        }
    }

    fn stored_password(dir: &Path) -> String {
        std::fs::read_to_string(dir.join(PG_PASSWORD_FILE))
            .map(|p| p.trim().to_owned())
            .unwrap_or_default()
    }

    /// Creates `name` unless it exists.
    pub async fn create_database(&self, name: &str) -> anyhow::Result<String> {
        anyhow::ensure!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "bad database name {name}"
        );
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres")).await?;
        let exists: Option<(i32,)> = sqlx::query_as("SELECT 1 FROM pg_database WHERE datname = $1")
            .bind(name)
            .fetch_optional(&mut conn)
            .await?;
        if exists.is_none() {
            sqlx::query(&format!("CREATE DATABASE \"{name}\""))
                .execute(&mut conn)
                .await?;
        }
        conn.close().await?;
        Ok(self.url(name))
    }

    /// Fast shutdown: open transactions roll back, committed data stays.
    pub async fn stop(mut self) {
        stop_child(&mut self.child, Signal::SIGINT, Duration::from_secs(30)).await;
    }

    /// Stops every process of the cluster (SIGSTOP): a hung database,
    /// connections open but nothing answered, until [`PgCluster::thaw`].
    pub fn freeze(&self) {
        self.signal_all(Signal::SIGSTOP);
    }

    /// Resumes a frozen cluster.
    pub fn thaw(&self) {
        self.signal_all(Signal::SIGCONT);
    }

    fn signal_all(&self, signal: Signal) {
        let Some(postmaster) = self.child.id() else {
            return;
        };
        for pid in std::iter::once(postmaster).chain(children_of(postmaster)) {
            let _ = kill(Pid::from_raw(pid as i32), signal);
        }
    }

    /// Immediate shutdown, like a crash.
    pub async fn crash(mut self) {
        stop_child(&mut self.child, Signal::SIGQUIT, Duration::from_secs(10)).await;
    }
}

/// A `redis-server` on loopback.
pub struct RedisServer {
    child: Child,
    port: u16,
    password: String,
    dir: PathBuf,
}

impl RedisServer {
    /// Starts a server keeping its files in `dir`; `Durable` turns on the
    /// append-only file.
    pub async fn start(
        bins: &Binaries,
        dir: &Path,
        port: u16,
        durability: Durability,
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let log = dir.join("redis.log");
        // A password, as a deployment has; kept in the server's own folder
        // (0600) so a restart of the same folder keeps it, and given in a
        // config file rather than on the command line, where `ps` shows it.
        let password = {
            let file = dir.join("password");
            match std::fs::read_to_string(&file) {
                Ok(p) if p.trim().len() >= 32 => p.trim().to_owned(),
                _ => {
                    let p = uuid::Uuid::new_v4().simple().to_string();
                    write_private(&file, &p)?;
                    p
                }
            }
        };
        let conf = dir.join("redis.conf");
        write_private(&conf, &format!("requirepass {password}\n"))?;
        let mut cmd = Command::new(&bins.redis_server);
        cmd.arg(&conf)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--protected-mode",
                "no",
            ])
            .arg("--dir")
            .arg(dir)
            .args([
                "--appendonly",
                if durability == Durability::Durable {
                    "yes"
                } else {
                    "no"
                },
            ])
            .arg("--logfile")
            .arg(&log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        let child = cmd.spawn().context("starting redis-server")?;
        let mut server = Self {
            child,
            port,
            password,
            dir: dir.to_owned(),
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
                && child_listens(&server.child, port)
            {
                return Ok(server);
            }
            if let Some(status) = server.child.try_wait()? {
                bail!("redis-server exited ({status}):\n{}", tail(&log));
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "redis-server did not listen on {port} within 20 s:\n{}",
                    tail(&log)
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its folder: starting a server there again keeps its password.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// With the password: `redis://:<password>@127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://:{}@127.0.0.1:{}/", self.password, self.port)
    }

    pub async fn stop(mut self) {
        stop_child(&mut self.child, Signal::SIGTERM, Duration::from_secs(10)).await;
    }
}

/// A port nobody listens on right now (the OS picks it).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// The test payment gateway (`mercato gateway`) as a child process, so that
/// its faults (a killed PSP, a dropped connection) are real.
pub struct GatewayProcess {
    child: Child,
    port: u16,
    api_key: String,
    webhook_secret: String,
}

impl GatewayProcess {
    /// Starts `<exe> gateway` on `port` and waits until it answers.
    /// `log` receives its output (discarded when `None`); it sends its spans
    /// to the OTLP collector `otlp_endpoint` (none when empty).
    pub async fn start(
        exe: &Path,
        port: u16,
        api_key: &str,
        webhook_secret: &str,
        slow_ms: u64,
        log: Option<&Path>,
        otlp_endpoint: &str,
    ) -> anyhow::Result<Self> {
        let mut cmd = Command::new(exe);
        cmd.arg("gateway")
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--slow-ms", &slow_ms.to_string()])
            // Secrets go by environment, not on the command line.
            .env("MERCATO_GATEWAY_API_KEY", api_key)
            .env("MERCATO_GATEWAY_WEBHOOK_SECRET", webhook_secret)
            .env("MERCATO_GATEWAY_OTLP_ENDPOINT", otlp_endpoint)
            .env_remove("MERCATO_GATEWAY_LISTEN")
            .env_remove("MERCATO_GATEWAY_SLOW_MS")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match log {
            Some(path) => {
                let (out, err) = log_file(path)?;
                cmd.env("MERCATO_LOG_FORMAT", "json")
                    .stdout(out)
                    .stderr(err);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let child = cmd.spawn().context("starting the test gateway")?;
        let mut gateway = Self {
            child,
            port,
            api_key: api_key.to_owned(),
            webhook_secret: webhook_secret.to_owned(),
        };
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let health = format!("{}/healthz", gateway.url());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(&health).send().await {
                if r.status().is_success() && child_listens(&gateway.child, port) {
                    return Ok(gateway);
                }
            }
            if let Some(status) = gateway.child.try_wait()? {
                let log = log.map(tail).unwrap_or_default();
                bail!("the test gateway exited ({status}):\n{log}");
            }
            if tokio::time::Instant::now() > deadline {
                bail!("the test gateway did not answer on {port} within 20 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    pub fn webhook_secret(&self) -> &str {
        &self.webhook_secret
    }

    /// Whether the process has exited.
    pub fn exited(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub async fn stop(mut self) {
        stop_child(&mut self.child, Signal::SIGTERM, Duration::from_secs(10)).await;
    }

    /// SIGKILL at once, like a crash (every payment it held is gone).
    pub async fn kill(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The development mail sink (`mercato mailbox`) as a child process, so
/// that a test can take it down (mail waits and is retried) and bring it
/// back on the same ports.
pub struct MailboxProcess {
    child: Child,
    exe: PathBuf,
    smtp_port: u16,
    http_port: u16,
    log: Option<PathBuf>,
}

impl MailboxProcess {
    /// Starts `<exe> mailbox` with SMTP on `smtp_port` and HTTP on
    /// `http_port`, and waits until it answers; `log` receives its output
    /// (discarded when `None`).
    pub async fn start(
        exe: &Path,
        smtp_port: u16,
        http_port: u16,
        log: Option<&Path>,
    ) -> anyhow::Result<Self> {
        let child = Self::spawn(exe, smtp_port, http_port, log)?;
        let mut mailbox = Self {
            child,
            exe: exe.to_owned(),
            smtp_port,
            http_port,
            log: log.map(Path::to_owned),
        };
        mailbox.wait_ready().await?;
        Ok(mailbox)
    }

    fn spawn(
        exe: &Path,
        smtp_port: u16,
        http_port: u16,
        log: Option<&Path>,
    ) -> anyhow::Result<Child> {
        let mut cmd = Command::new(exe);
        cmd.arg("mailbox")
            .args(["--smtp-listen", &format!("127.0.0.1:{smtp_port}")])
            .args(["--http-listen", &format!("127.0.0.1:{http_port}")])
            .env_remove("MERCATO_MAILBOX_SMTP_LISTEN")
            .env_remove("MERCATO_MAILBOX_HTTP_LISTEN")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match log {
            Some(path) => {
                let (out, err) = log_file(path)?;
                cmd.env("MERCATO_LOG_FORMAT", "json")
                    .stdout(out)
                    .stderr(err);
            }
            None => {
                cmd.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        cmd.spawn().context("starting the mailbox")
    }

    async fn wait_ready(&mut self) -> anyhow::Result<()> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(1))
            .build()?;
        let health = format!("{}/healthz", self.http_url());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(r) = http.get(&health).send().await {
                if r.status().is_success()
                    && child_listens(&self.child, self.http_port)
                    && child_listens(&self.child, self.smtp_port)
                {
                    return Ok(());
                }
            }
            if let Some(status) = self.child.try_wait()? {
                let log = self.log.as_deref().map(tail).unwrap_or_default();
                bail!("the mailbox exited ({status}):\n{log}");
            }
            if tokio::time::Instant::now() > deadline {
                bail!(
                    "the mailbox did not answer on {} within 20 s",
                    self.http_port
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Where pods send mail: `smtp://127.0.0.1:<port>`.
    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    /// Where mail is read: the page at `/`, the JSON at `/messages`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// SIGKILL at once: the SMTP port refuses connections (and what the
    /// mailbox held is gone).
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Starts it again on its ports (after [`MailboxProcess::kill`]), empty.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        let _ = self.child.kill().await;
        self.child = Self::spawn(
            &self.exe,
            self.smtp_port,
            self.http_port,
            self.log.as_deref(),
        )?;
        self.wait_ready().await
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub async fn stop(mut self) {
        stop_child(&mut self.child, Signal::SIGTERM, Duration::from_secs(10)).await;
    }
}

/// Finds the `tansu` broker binary: `MERCATO_TANSU`, then `PATH`, then
/// cargo's bin directory (`cargo install` puts it there), or says how to
/// install it.
pub fn locate_tansu() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("MERCATO_TANSU").map(PathBuf::from) {
        anyhow::ensure!(
            path.is_file(),
            "MERCATO_TANSU={} is not a file",
            path.display()
        );
        return Ok(path);
    }
    let cargo_bin = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
        .map(|d| d.join("bin").join("tansu"));
    which("tansu")
        .or_else(|| cargo_bin.filter(|p| p.is_file()))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "the Kafka-API broker `tansu` was not found: run scripts/bootstrap.sh, or \
                 `cargo install --locked tansu --features dynostore,libsql`, or set MERCATO_TANSU"
            )
        })
}

/// Where a [`Tansu`] broker keeps its topics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TansuStorage {
    /// In memory: gone when the broker stops (tests).
    Memory,
    /// A SQLite file in this directory: topics, messages and committed
    /// offsets survive a restart (`mercato up`).
    Sqlite(PathBuf),
}

/// A `tansu` Kafka-API broker on loopback, one node.
pub struct Tansu {
    child: Option<Child>,
    bin: PathBuf,
    port: u16,
    storage: TansuStorage,
    log: PathBuf,
}

impl Tansu {
    /// Starts a broker on `port`, logging to `log`, and waits until it
    /// answers a Kafka request.
    pub async fn start(
        bin: &Path,
        storage: TansuStorage,
        port: u16,
        log: &Path,
    ) -> anyhow::Result<Self> {
        let mut broker = Self {
            child: None,
            bin: bin.to_owned(),
            port,
            storage,
            log: log.to_owned(),
        };
        broker.spawn().await?;
        Ok(broker)
    }

    async fn spawn(&mut self) -> anyhow::Result<()> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut cmd = Command::new(&self.bin);
        cmd.arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--cluster-id", "mercato"]);
        match &self.storage {
            TansuStorage::Memory => {
                cmd.args(["--storage-engine", "memory://tansu/"]);
            }
            TansuStorage::Sqlite(dir) => {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                // tansu resolves the file against its working directory.
                cmd.args(["--storage-engine", "sqlite://tansu.db"])
                    .current_dir(dir);
            }
        }
        if let Some(parent) = self.log.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let (out, err) = log_file(&self.log)?;
        cmd.stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let mut child = cmd.spawn().context("starting tansu")?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            if kafka_answers(self.port).await && child_listens(&child, self.port) {
                self.child = Some(child);
                return Ok(());
            }
            if let Some(status) = child.try_wait()? {
                bail!("tansu exited ({status}):\n{}", tail(&self.log));
            }
            if tokio::time::Instant::now() > deadline {
                let _ = child.kill().await;
                bail!(
                    "tansu did not answer Kafka requests on {} within 20 s:\n{}",
                    self.port,
                    tail(&self.log)
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The bootstrap servers (`host:port`) clients are given.
    pub fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Stops the broker (SIGTERM, then kill); [`Tansu::restart`] brings it
    /// back on the same port.
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            stop_child(&mut child, Signal::SIGTERM, Duration::from_secs(10)).await;
        }
    }

    /// Kills the broker at once, like a crash.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill().await;
        }
    }

    /// Starts the broker again on the port (and storage) it had; stops it
    /// first if it runs.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.stop().await;
        self.spawn().await
    }
}

/// Whether a Kafka broker on loopback `port` answers an ApiVersions (v0)
/// request with the correlation id it was sent.
async fn kafka_answers(port: u16) -> bool {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const CORRELATION: i32 = 0x6d65_7263; // "merc"
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let client = b"mercato";
        let mut body = Vec::new();
        body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
        body.extend_from_slice(&0i16.to_be_bytes()); // version 0
        body.extend_from_slice(&CORRELATION.to_be_bytes());
        body.extend_from_slice(&(client.len() as i16).to_be_bytes());
        body.extend_from_slice(client);
        let mut request = (body.len() as i32).to_be_bytes().to_vec();
        request.extend_from_slice(&body);
        stream.write_all(&request).await?;
        let size = stream.read_i32().await?;
        let correlation = stream.read_i32().await?;
        std::io::Result::Ok(size >= 4 && correlation == CORRELATION)
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), probe).await,
        Ok(Ok(true))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn postgres_answers_only_with_its_password_and_keeps_it_across_restarts() {
        let bins = Binaries::locate().expect("postgres installed");
        let base = std::env::temp_dir().join(format!("mercato-pgpw-{}", std::process::id()));
        std::fs::create_dir_all(&base).expect("dir");
        std::fs::set_permissions(
            &base,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
        )
        .expect("chmod");
        let dir = base.join("pg");
        let port = free_port().expect("port");
        let pg = PgCluster::start(&bins, &dir, port, Durability::Throwaway)
            .await
            .expect("postgres");
        let url = pg.url("postgres");
        assert!(url.starts_with("postgres://mercato:"), "{url}");
        sqlx::PgConnection::connect(&url)
            .await
            .expect("the password is accepted");
        let without = format!("postgres://mercato@127.0.0.1:{port}/postgres");
        let refused = sqlx::PgConnection::connect(&without)
            .await
            .expect_err("no password, no connection");
        assert!(refused.to_string().contains("password"), "{refused}");
        let wrong = format!("postgres://mercato:wrong@127.0.0.1:{port}/postgres");
        assert!(sqlx::PgConnection::connect(&wrong).await.is_err());
        pg.stop().await;
        let again = PgCluster::start(&bins, &dir, port, Durability::Throwaway)
            .await
            .expect("restarts");
        assert_eq!(
            again.url("postgres"),
            url,
            "the same folder keeps the password"
        );
        assert_eq!(PgCluster::url_of(&dir, port, "postgres"), url);
        again.stop().await;
        let _ = std::fs::remove_dir_all(&base);
    }

    #[tokio::test]
    async fn redis_answers_only_with_its_password_and_keeps_it_across_restarts() {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let bins = Binaries::locate().expect("redis-server installed");
        let dir = std::env::temp_dir().join(format!("mercato-redis-{}", std::process::id()));
        let port = free_port().expect("port");
        let server = RedisServer::start(&bins, &dir, port, Durability::Throwaway)
            .await
            .expect("redis");
        let ask = |auth: Option<String>| async move {
            let mut conn = tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect");
            if let Some(password) = auth {
                conn.write_all(format!("AUTH {password}\r\n").as_bytes())
                    .await
                    .expect("auth");
                let mut ok = [0u8; 5];
                conn.read_exact(&mut ok).await.expect("auth answer");
            }
            conn.write_all(b"PING\r\n").await.expect("ping");
            let mut answer = [0u8; 64];
            let n = conn.read(&mut answer).await.expect("answer");
            String::from_utf8_lossy(&answer[..n]).into_owned()
        };
        assert!(
            ask(None).await.starts_with("-NOAUTH"),
            "no password, no answer"
        );
        let url = server.url();
        let password = url
            .strip_prefix("redis://:")
            .and_then(|rest| rest.split('@').next())
            .expect("password in the url")
            .to_owned();
        assert_eq!(ask(Some(password.clone())).await, "+PONG\r\n");
        let mode = std::fs::metadata(dir.join("password"))
            .expect("file")
            .permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        server.stop().await;
        let again = RedisServer::start(&bins, &dir, port, Durability::Throwaway)
            .await
            .expect("redis again");
        assert_eq!(again.url(), url, "the same folder keeps the password");
        again.stop().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn a_port_belongs_to_the_process_that_listens_on_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        assert!(listens(std::process::id(), port));
        // Another process answering nothing on that port does not own it.
        let stranger = Command::new("sleep")
            .arg("5")
            .kill_on_drop(true)
            .spawn()
            .expect("sleep");
        assert!(!child_listens(&stranger, port));
        drop(listener);
        assert!(!listens(std::process::id(), port));
    }
}
