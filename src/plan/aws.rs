//! An `s3://` lake needs AWS credentials. The SDKs behind the Delta tables look for them in a
//! chain (variables, shared files, web identity, container, EC2 instance metadata) and, finding
//! none, log kilobytes of warnings and fail without a hint, after waiting on the instance
//! metadata service where there is none. So before any request: when no credential source is
//! configured and the metadata service does not answer within a second, the run stops with one
//! line naming the variables to set.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use super::{PlanError, Settings};

/// Variables that each configure a credential source the SDKs use, or say where one is.
const SOURCES: [&str; 7] = [
    "AWS_PROFILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT",
    "AWS_METADATA_ENDPOINT",
    "AWS_SKIP_SIGNATURE",
];

/// The EC2 instance metadata service, the last link of the chain.
const METADATA_SERVICE: &str = "http://169.254.169.254";

/// How long the metadata service has to answer; on an instance it answers in milliseconds.
const METADATA_TIMEOUT: Duration = Duration::from_secs(1);

/// What the environment says about AWS credentials: which sources are configured, never a value.
#[derive(Debug, Clone, Default)]
pub struct AwsEnv {
    /// The first variable found that configures a credential source.
    configured: Option<&'static str>,
    /// The shared credentials and config files the SDK reads when they exist.
    shared_files: Vec<PathBuf>,
    /// `AWS_EC2_METADATA_DISABLED=true`: the SDK does not ask the metadata service.
    metadata_disabled: bool,
}

impl AwsEnv {
    pub(super) fn from_env(env: &HashMap<String, String>) -> Self {
        let set = |name: &str| env.get(name).is_some_and(|v| !v.trim().is_empty());
        let keys = ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"];
        let configured = if keys.iter().all(|k| set(k)) {
            Some(keys[0])
        } else {
            SOURCES.into_iter().find(|name| set(name))
        };
        let home = env.get("HOME").map(PathBuf::from);
        let shared_files = [
            ("AWS_SHARED_CREDENTIALS_FILE", "credentials"),
            ("AWS_CONFIG_FILE", "config"),
        ]
        .into_iter()
        .filter_map(|(var, name)| match env.get(var) {
            Some(path) => Some(PathBuf::from(path)),
            None => home.as_ref().map(|h| h.join(".aws").join(name)),
        })
        .collect();
        AwsEnv {
            configured,
            shared_files,
            metadata_disabled: env
                .get("AWS_EC2_METADATA_DISABLED")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        }
    }

    /// Whether a source other than the metadata service is configured.
    fn has_source(&self) -> bool {
        self.configured.is_some() || self.shared_files.iter().any(|f| f.is_file())
    }
}

impl Settings {
    /// For an `s3://` lake or state dir, that the SDKs have somewhere to get credentials from.
    pub async fn check_object_store(&self) -> Result<(), PlanError> {
        let scheme = self
            .lake
            .split_once("://")
            .map(|(s, _)| s.to_ascii_lowercase());
        let place = if matches!(scheme.as_deref(), Some("s3" | "s3a")) {
            format!("the lake {}", self.lake)
        } else if self.state_dir.local_dir().is_none() {
            format!("the state dir {}", self.state_dir)
        } else {
            return Ok(());
        };
        if self.aws.has_source() {
            return Ok(());
        }
        if !self.aws.metadata_disabled && metadata_service_answers(METADATA_SERVICE).await {
            return Ok(());
        }
        Err(PlanError(format!(
            "no AWS credentials found for {place}; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) and AWS_REGION, and for MinIO or moto also AWS_ENDPOINT_URL and AWS_ALLOW_HTTP=true"
        )))
    }
}

/// Whether an instance metadata service at `endpoint` hands out a session token, as the SDKs
/// ask before they ask for credentials; never through a proxy.
async fn metadata_service_answers(endpoint: &str) -> bool {
    let Ok(client) = reqwest::Client::builder()
        .no_proxy()
        .timeout(METADATA_TIMEOUT)
        .build()
    else {
        return false;
    };
    client
        .put(format!("{endpoint}/latest/api/token"))
        .header("x-aws-ec2-metadata-token-ttl-seconds", "60")
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;
    use crate::plan::SettingsInput;

    fn settings(vars: &[(&str, &str)]) -> Settings {
        let mut env: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.insert("CANDLELAKE_LAKE".into(), "s3://bucket/x".into());
        Settings::resolve(SettingsInput {
            env,
            ..Default::default()
        })
        .unwrap()
    }

    #[tokio::test]
    async fn no_source_and_no_metadata_service_is_one_line_naming_the_variables() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path().display().to_string();
        let err = settings(&[("HOME", &home), ("AWS_EC2_METADATA_DISABLED", "true")])
            .check_object_store()
            .await
            .unwrap_err()
            .0;
        assert!(err.starts_with("no AWS credentials found for the lake s3://bucket/x;"));
        for var in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"] {
            assert!(err.contains(var), "{err}");
        }
        assert!(!err.contains('\n'));
        let only_the_key_id = settings(&[
            ("HOME", &home),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_ACCESS_KEY_ID", "AKIA"),
        ]);
        assert!(only_the_key_id.check_object_store().await.is_err());
    }

    #[tokio::test]
    async fn any_configured_source_is_left_to_the_sdk() {
        let home = tempfile::tempdir().unwrap();
        let shown = home.path().display().to_string();
        let off = ("AWS_EC2_METADATA_DISABLED", "true");
        // TC: the variables that configure a source
        let cases: [&[(&str, &str)]; 3] = [
            &[
                ("AWS_ACCESS_KEY_ID", "AKIA"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
            ],
            &[("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")],
            &[(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                "http://169.254.170.23/v1",
            )],
        ];
        for vars in cases {
            let all = [vars, &[("HOME", shown.as_str()), off]].concat();
            settings(&all).check_object_store().await.unwrap();
        }
        std::fs::create_dir(home.path().join(".aws")).unwrap();
        std::fs::write(home.path().join(".aws/credentials"), "[default]\n").unwrap();
        settings(&[("HOME", &shown), off])
            .check_object_store()
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn the_metadata_service_is_trusted_when_it_hands_out_a_token() {
        // TC: (status of the token request, trusted)
        for (status, trusted) in [(200, true), (403, false)] {
            let server = MockServer::start().await;
            Mock::given(method("PUT"))
                .and(path("/latest/api/token"))
                .respond_with(ResponseTemplate::new(status).set_body_string("token"))
                .mount(&server)
                .await;
            assert_eq!(metadata_service_answers(&server.uri()).await, trusted);
        }
    }

    #[tokio::test]
    async fn a_silent_metadata_service_is_given_up_on_in_a_second() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        // Accepts connections and never answers.
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let started = std::time::Instant::now();
        assert!(!metadata_service_answers(&endpoint).await);
        assert!(
            started.elapsed() < METADATA_TIMEOUT * 2,
            "{:?}",
            started.elapsed()
        );
        silent.abort();
    }
}
