//! A small client of the standalone process's local API.

use crate::datadir;
use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

/// Connection details of a running standalone process.
pub struct ApiClient {
    base: String,
    token: String,
    runtime: tokio::runtime::Runtime,
}

impl ApiClient {
    /// Finds the process through `data_dir` (or `api` when given).
    pub fn discover(data_dir: &Path, api: Option<&str>) -> Result<ApiClient> {
        let base = match api {
            Some(a) => a.trim_end_matches('/').to_string(),
            None => datadir::read_discovery(data_dir)?.api,
        };
        let token = datadir::read_admin_token(data_dir)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(ApiClient {
            base,
            token,
            runtime,
        })
    }

    /// GET a JSON document.
    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.call("GET", path, None)
    }

    /// POST a JSON body and read a JSON answer.
    pub fn post<B: Serialize, T: DeserializeOwned>(&self, path: &str, body: &B) -> Result<T> {
        self.call("POST", path, Some(serde_json::to_vec(body)?))
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<T> {
        let url = format!("{}{}", self.base, path);
        let req = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .header("authorization", format!("Bearer {}", self.token))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let (status, bytes) = self.runtime.block_on(async {
            let client: Client<_, Full<Bytes>> =
                Client::builder(TokioExecutor::new()).build_http();
            let resp = client
                .request(req)
                .await
                .map_err(|e| anyhow!("cannot reach the standalone API at {}: {e}; is `connectors standalone` running?", self.base))?;
            let status = resp.status();
            let bytes = resp.into_body().collect().await?.to_bytes();
            Ok::<_, anyhow::Error>((status, bytes))
        })?;
        if !status.is_success() {
            let msg = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            bail!("{msg}");
        }
        serde_json::from_slice(&bytes).with_context(|| format!("unexpected answer from {url}"))
    }
}
