//! Recorded calls: the file written into the bucket on moto's S3, then `recording_ready` in
//! either shape; a failed copy; a call nobody recorded (nobody started it, or nobody joined).

use serde_json::{Value, json};
use tavus_sim::{RecordingShape, SimConfig, recording_key};

use crate::support::{FAST, Receiver, Sim, id};

/// Where `make test` started moto (S3 on the same endpoint as Secrets Manager).
fn moto() -> String {
    std::env::var("MOTO_ENDPOINT")
        .unwrap_or_else(|_| local_stack::skip_service_tests("MOTO_ENDPOINT"))
}

/// A new bucket on moto (its S3 takes unsigned requests that create buckets and objects).
async fn bucket(http: &reqwest::Client) -> String {
    let name = format!("sim-rec-{:016x}", rand::random::<u64>());
    let status = http
        .put(format!("{}/{name}", moto()))
        .send()
        .await
        .unwrap()
        .status();
    assert!(status.is_success(), "{status}");
    name
}

fn recorded(callback_url: &str, bucket: &str) -> Value {
    json!({
        "callback_url": callback_url,
        "properties": {
            "enable_recording": true,
            "recording_s3_bucket_name": bucket,
            "recording_s3_bucket_region": "us-east-1",
            "aws_assume_role_arn": "arn:aws:iam::123456789012:role/tavus-recordings",
        },
    })
}

async fn sim_with(s3: Option<String>, shape: RecordingShape) -> Sim {
    Sim::start(SimConfig {
        speedup: FAST,
        s3_endpoint: s3,
        recording_shape: shape,
        ..SimConfig::default()
    })
    .await
}

/// The end callbacks of `id`, up to and including the recording's.
async fn until_recording(receiver: &mut Receiver, id: &str) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = receiver.next_end_event(id).await;
        let done = event["event_type"]
            .as_str()
            .unwrap()
            .starts_with("application.recording");
        events.push(event);
        if done {
            return events;
        }
    }
}

#[tokio::test]
async fn a_recorded_call_writes_its_file_then_announces_it_in_either_shape() {
    for shape in [RecordingShape::Legacy, RecordingShape::Storage] {
        let sim = sim_with(Some(moto()), shape).await;
        let bucket = bucket(&sim.http).await;
        let mut receiver = Receiver::start().await;
        let call = id(&sim.create_ok(recorded(&receiver.url, &bucket)).await);
        assert_eq!(
            sim.view(&call).await["recording"]["bucket"],
            bucket.as_str()
        );
        sim.control_end(&call, json!({ "duration_seconds": 14.4 }))
            .await;

        let events = until_recording(&mut receiver, &call).await;
        let types: Vec<&str> = events
            .iter()
            .map(|e| e["event_type"].as_str().unwrap())
            .collect();
        assert_eq!(
            types,
            [
                "system.shutdown",
                "application.transcription_ready",
                "application.recording_ready"
            ],
            "{shape}"
        );
        let key = recording_key(&call);
        let properties = &events[2]["properties"];
        match shape {
            RecordingShape::Legacy => assert_eq!(
                properties,
                &json!({ "bucket_name": bucket, "s3_key": key, "duration": 14 })
            ),
            RecordingShape::Storage => assert_eq!(
                properties,
                &json!({ "storage_provider": "s3", "storage_uri": format!("s3://{bucket}/{key}") })
            ),
        }
        // The file is in the bucket when it is announced.
        let listing = sim
            .http
            .get(format!("{}/{bucket}?list-type=2", moto()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(listing.contains(&format!("<Key>{key}</Key>")), "{listing}");
        assert!(listing.contains("<Size>4096</Size>"), "{listing}");
    }
}

#[tokio::test]
async fn a_copy_that_fails_is_announced_as_failed() {
    let sim = sim_with(None, RecordingShape::Legacy).await;
    let mut receiver = Receiver::start().await;
    let created = sim.create_ok(recorded(&receiver.url, "nowhere")).await;
    let call = id(&created);
    // A person joined and started the recording; the call ends through the API.
    let joined = sim
        .join(&call, created["conversation_url"].as_str().unwrap())
        .await;
    assert_eq!(joined.0, 204, "{}", joined.1);
    sim.end(&call).await;
    let events = until_recording(&mut receiver, &call).await;
    let failed = events.last().unwrap();
    assert_eq!(failed["event_type"], "application.recording_copy_failed");
    assert!(
        failed["properties"]["error_message"]
            .as_str()
            .unwrap()
            .contains("S3 endpoint")
    );
}

#[tokio::test]
async fn calls_not_recorded_announce_no_recording() {
    let sim = sim_with(Some(moto()), RecordingShape::Legacy).await;
    let receiver = Receiver::start().await;
    // Recording allowed, but nobody started it in the call.
    let allowed = id(&sim.create_ok(recorded(&receiver.url, "unused")).await);
    sim.control_end(
        &allowed,
        json!({ "duration_seconds": 5, "recorded": false }),
    )
    .await;
    // Recording allowed, but nobody joined to start it (ended through the API).
    let unjoined = id(&sim.create_ok(recorded(&receiver.url, "unused")).await);
    sim.end(&unjoined).await;
    // No recording asked for.
    let plain = id(&sim.create_ok(json!({ "callback_url": receiver.url })).await);
    assert_eq!(sim.view(&plain).await["recording"], Value::Null);
    sim.control_end(&plain, json!({ "duration_seconds": 5 }))
        .await;
    for call in [&allowed, &unjoined, &plain] {
        let view = sim
            .wait_for(call, "ended", |v| v["status"] == "ended")
            .await;
        let callbacks: Vec<&str> = view["callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        assert_eq!(
            callbacks,
            [
                "system.replica_joined",
                "system.shutdown",
                "application.transcription_ready"
            ]
        );
    }
}

#[tokio::test]
async fn recording_settings_come_whole() {
    let sim = sim_with(None, RecordingShape::Legacy).await;
    let (status, answer) = sim
        .create(json!({ "properties": { "enable_recording": true, "recording_s3_bucket_name": "rec" } }))
        .await;
    assert_eq!(status, 400, "{answer}");
}
