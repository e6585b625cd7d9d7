//! Postgres: a fresh database on the local server, or a server of its own.

use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tempfile::TempDir;

use crate::{block_on, close, free_port, is_root, unique, wait_until, watchdog};

/// The admin URL the rig creates databases through.
pub fn postgres_admin_url() -> String {
    std::env::var("ENGRAM_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

async fn admin(url: String, sql: String) -> Result<(), tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await?;
    let driver = tokio::spawn(connection);
    let result = client.batch_execute(&sql).await;
    drop(client);
    let _ = driver.await;
    result
}

/// A private database, dropped (connections forced out) when this drops.
#[derive(Debug)]
pub struct PgDatabase {
    pub name: String,
    pub url: String,
    admin_url: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let admin_url = postgres_admin_url();
        let name = unique("engram_test");
        if let Err(e) = block_on(admin(admin_url.clone(), format!("CREATE DATABASE {name}"))) {
            panic!(
                "cannot create a test database through {admin_url}: {e}\n\
                 (scripts/test installs and starts Postgres; or set ENGRAM_TEST_POSTGRES_URL)"
            );
        }
        let url = match admin_url.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("ENGRAM_TEST_POSTGRES_URL must end in /DATABASE"),
        };
        Self {
            name,
            url,
            admin_url,
        }
    }
}

impl PgDatabase {
    /// Runs SQL on the database (simple protocol) and returns every row's
    /// columns as text: for tests that read the store directly.
    pub fn query(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        let (url, sql) = (self.url.clone(), sql.to_owned());
        block_on(async move {
            let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .expect("connect to the test database");
            let driver = tokio::spawn(connection);
            let messages = client.simple_query(&sql).await.expect("query");
            drop(client);
            let _ = driver.await;
            messages
                .into_iter()
                .filter_map(|m| match m {
                    tokio_postgres::SimpleQueryMessage::Row(row) => Some(
                        (0..row.len())
                            .map(|i| row.get(i).map(str::to_owned))
                            .collect(),
                    ),
                    _ => None,
                })
                .collect()
        })
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        let _ = block_on(admin(self.admin_url.clone(), sql));
    }
}

/// A Postgres server of its own (initdb in a temp dir, a free port), for
/// the tests that must stop it. Stopping is immediate (SIGQUIT): to the
/// clients, a crash.
#[derive(Debug)]
pub struct PrivatePostgres {
    pub port: u16,
    dir: TempDir,
    bin: std::path::PathBuf,
    child: Option<Child>,
    /// More `-c` settings of the server (TLS).
    settings: String,
}

impl PrivatePostgres {
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .and_then(|dirs| {
                dirs.filter_map(|d| d.ok())
                    .map(|d| d.path().join("bin"))
                    .max()
            })
            .expect(
                "PostgreSQL server binaries under /usr/lib/postgresql (apt-get install postgresql)",
            );
        let dir = tempfile::tempdir().expect("temp dir");
        let root = is_root();
        if root {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown of the temp dir to postgres"
            );
        }
        let data = dir.path().join("data");
        let initdb = format!(
            "{}/initdb -D '{}' -A trust -U postgres --no-sync",
            bin.display(),
            data.display()
        );
        let status = Command::new("sh")
            .args(["-c", &as_postgres(&initdb, root)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("initdb runs");
        assert!(status.success(), "initdb failed");
        let mut pg = Self {
            port: free_port(),
            dir,
            bin,
            child: None,
            settings: String::new(),
        };
        pg.restart();
        pg
    }

    /// A server that accepts TLS connections only (`hostssl` in its
    /// pg_hba.conf), with this certificate and key (PEM).
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> Self {
        let mut pg = Self::start();
        pg.stop();
        let data = pg.dir.path().join("data");
        std::fs::write(data.join("server.crt"), cert_pem).expect("server.crt");
        std::fs::write(data.join("server.key"), key_pem).expect("server.key");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba.conf");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            data.join("server.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .expect("the key's mode");
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(data.join("server.crt"))
                .arg(data.join("server.key"))
                .arg(data.join("pg_hba.conf"))
                .status();
            assert!(status.is_ok_and(|s| s.success()), "chown of the TLS files");
        }
        pg.settings = "-c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key".into();
        pg.restart();
        pg
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Immediate shutdown: connections drop, nothing is flushed gracefully.
    pub fn stop(&mut self) {
        close(&mut self.child);
    }

    /// Starts (again) on the same port and data; crash recovery included.
    pub fn restart(&mut self) {
        self.stop();
        let command = format!(
            "{}/postgres -D '{}' -p {} -k '{}' -c listen_addresses=127.0.0.1 {}",
            self.bin.display(),
            self.dir.path().join("data").display(),
            self.port,
            self.dir.path().display(),
            self.settings,
        );
        self.child = Some(watchdog(&command, "-QUIT", true));
        let url = self.url();
        let (bin, port) = (self.bin.clone(), self.port);
        let tls = !self.settings.is_empty();
        wait_until("private postgres", Duration::from_secs(30), || {
            if tls {
                // libpq's pg_isready speaks TLS when the server wants it.
                Command::new(bin.join("pg_isready"))
                    .args(["-q", "-h", "127.0.0.1", "-p", &port.to_string()])
                    .status()
                    .is_ok_and(|s| s.success())
            } else {
                block_on(admin(url.clone(), "SELECT 1".into())).is_ok()
            }
        });
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// initdb and postgres refuse to run as root: run them as `postgres`.
fn as_postgres(command: &str, root: bool) -> String {
    if root {
        format!("runuser -u postgres -- {command}")
    } else {
        command.to_owned()
    }
}
