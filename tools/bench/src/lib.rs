//! Shared helpers of the benchmarks.

pub mod runtime_api;

use awaknow_core::domain::PlanCatalog;
use awaknow_core::store::DynamoLedger;

/// A ledger on a new table named `<prefix>-<ulid>`, created from template.yaml's definition.
pub async fn new_table(
    client: &aws_sdk_dynamodb::Client,
    definition: &local_stack::TableDefinition,
    prefix: &str,
) -> Result<DynamoLedger, String> {
    let table = format!("{prefix}-{}", ulid::Ulid::new().to_string().to_lowercase());
    definition
        .create(client, &table)
        .await
        .map_err(|e| e.to_string())?;
    Ok(DynamoLedger::new(
        client.clone(),
        table,
        PlanCatalog::default(),
    ))
}

/// Drops a table once measured, so every run meets DynamoDB Local as the first did.
pub async fn drop_table(ledger: &DynamoLedger) {
    let _ = ledger
        .client()
        .delete_table()
        .table_name(ledger.table())
        .send()
        .await;
}

/// The median of some measurements (the mean of the middle two for an even count).
pub fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let mid = values.len() / 2;
    if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    }
}

/// A number from the environment, or its default.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

/// The p-th percentile (0-100) by nearest rank.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// CPU time (user + system, in seconds) a process has used so far: `pid`, or this process.
/// `None` when it cannot be read (the process is gone).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    stat_cpu_seconds(&std::fs::read_to_string(path).ok()?)
}

/// CPU time (seconds) the JIT compiler threads of a Java process (`pid`) have used so far:
/// HotSpot names them `C1 CompilerThreadN` and `C2 CompilerThreadN` (cut to 15 characters in
/// `/proc`). `None` when the process cannot be read.
pub fn jit_cpu_seconds(pid: u32) -> Option<f64> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
    let mut seconds = 0.0;
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if is_jit_compiler(&comm) {
            let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
            seconds += stat_cpu_seconds(&stat).unwrap_or(0.0);
        }
    }
    Some(seconds)
}

fn is_jit_compiler(comm: &str) -> bool {
    comm.starts_with("C1 CompilerThre") || comm.starts_with("C2 CompilerThre")
}

/// utime + stime of a `/proc/<pid>/stat` line: fields 14 and 15, in clock ticks (USER_HZ, 100 on
/// Linux), counted after the command name in parentheses (which may hold spaces).
fn stat_cpu_seconds(stat: &str) -> Option<f64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn cpu_time_is_utime_plus_stime() {
        let stat = "4242 (a (odd) name) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 50 0 0 20 0 3 0";
        assert_eq!(super::stat_cpu_seconds(stat), Some(3.0));
        assert_eq!(super::stat_cpu_seconds("garbage"), None);
        assert!(super::cpu_seconds(None).is_some());
    }

    #[test]
    fn jit_compiler_threads_by_name() {
        assert!(super::is_jit_compiler("C2 CompilerThre\n"));
        assert!(super::is_jit_compiler("C1 CompilerThre"));
        assert!(!super::is_jit_compiler("qtp181078353-15"));
        assert!(!super::is_jit_compiler("SQLiteQueue[]"));
        // This process is no JVM: no compiler threads, nothing counted.
        assert_eq!(super::jit_cpu_seconds(std::process::id()), Some(0.0));
        assert_eq!(super::jit_cpu_seconds(u32::MAX), None);
    }

    /// A thread named as HotSpot names its compilers is counted, once it has used CPU; the rest
    /// of the process is not.
    #[test]
    fn jit_cpu_counts_the_compiler_threads_only() {
        let pid = std::process::id();
        let (spun, wait_spun) = std::sync::mpsc::channel();
        let (release, wait_release) = std::sync::mpsc::channel::<()>();
        let compiler = std::thread::Builder::new()
            .name("C2 CompilerThread0".into())
            .spawn(move || {
                // Busy until the kernel has charged this thread two clock ticks.
                let own = || {
                    std::fs::read_to_string("/proc/thread-self/stat")
                        .ok()
                        .and_then(|s| super::stat_cpu_seconds(&s))
                        .unwrap_or(0.0)
                };
                let mut work = 0u64;
                while own() < 0.02 {
                    work = std::hint::black_box(work.wrapping_add(1));
                }
                let _ = spun.send(own());
                // Stay alive: a finished thread leaves /proc and its time with it.
                let _ = wait_release.recv();
            })
            .expect("spawn a thread");
        let charged = wait_spun.recv().expect("the thread spun");
        let counted = super::jit_cpu_seconds(pid).expect("this process is readable");
        let whole = super::cpu_seconds(None).expect("this process is readable");
        drop(release);
        compiler.join().expect("the thread ends");
        assert!(
            counted >= charged,
            "counted {counted} s, the thread used {charged} s"
        );
        assert!(
            counted <= whole,
            "counted {counted} s of a process that used {whole} s"
        );
    }

    #[test]
    fn the_median_is_the_middle() {
        assert_eq!(super::median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(super::median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(super::percentile(&v, 50.0), 50.0);
        assert_eq!(super::percentile(&v, 99.0), 99.0);
        assert_eq!(super::percentile(&[7.0], 99.0), 7.0);
    }
}
