//! A DynamoDB Local of the campaign's own, keeping its data in files (in memory-backed
//! `/dev/shm` where there is one, so it is as quick as `-inMemory`), so that the process can be
//! killed mid-run, as a crash would, and started again on the same port and files with what it
//! had committed. The local stack's DynamoDB Local keeps its data in memory and cannot be.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

pub struct DynamoDbLocal {
    port: u16,
    dir: PathBuf,
    classpath: String,
    library_path: String,
    child: Mutex<Option<Child>>,
}

impl DynamoDbLocal {
    /// Starts one on a free loopback port, with the jars the local stack installed
    /// (`DDB_LOCAL_CLASSPATH`, `DDB_LOCAL_LIBRARY_PATH`, set by its `stack.env`).
    pub async fn start() -> Result<DynamoDbLocal, String> {
        let var = |name: &str| {
            std::env::var(name).map_err(|_| {
                format!("{name} is not set: run `make chaos`, which installs DynamoDB Local")
            })
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .map_err(|e| format!("no free port: {e}"))?;
        let base = ["/dev/shm", "/tmp"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_dir())
            .unwrap_or_else(std::env::temp_dir);
        let dir = base.join(format!("awaknow-chaos-ddb-{}", ulid::Ulid::new()));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let local = DynamoDbLocal {
            port,
            dir,
            classpath: var("DDB_LOCAL_CLASSPATH")?,
            library_path: var("DDB_LOCAL_LIBRARY_PATH")?,
            child: Mutex::new(None),
        };
        local.spawn()?;
        local.wait_ready().await?;
        Ok(local)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the process (SIGKILL: no chance to finish anything), waits `down`, and starts it
    /// again on the same port and files.
    pub async fn crash_and_restart(&self, down: Duration) -> Result<(), String> {
        self.kill();
        tokio::time::sleep(down).await;
        self.spawn()?;
        self.wait_ready().await
    }

    fn spawn(&self) -> Result<(), String> {
        let child = Command::new("java")
            .arg(format!("-Djava.library.path={}", self.library_path))
            .arg("-cp")
            .arg(&self.classpath)
            .args(["LoopbackDynamoDbLocal", "-sharedDb", "-disableTelemetry"])
            .arg("-port")
            .arg(self.port.to_string())
            .arg("-dbPath")
            .arg(&self.dir)
            .env("DDB_LOCAL_TELEMETRY", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("start DynamoDB Local: {e}"))?;
        *self.child.lock().unwrap_or_else(|p| p.into_inner()) = Some(child);
        Ok(())
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let url = self.endpoint();
        for _ in 0..300 {
            if reqwest::get(&url).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!("DynamoDB Local did not start on {url}"))
    }

    fn kill(&self) {
        let child = self.child.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(mut child) = child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for DynamoDbLocal {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
