//! HTTP clients of the server as its users hold them: [`Api`] for the JSON API (staff tokens,
//! anonymous calls) and [`Browser`], a cookie-keeping client of the shop and console pages that
//! does what a phone or a desktop browser would (session cookies, the CSRF field, redirects
//! read rather than followed).

use std::collections::HashMap;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// The text between `start` and the next `end` in `text`.
pub fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let rest = text.get(from..)?;
    rest.get(..rest.find(end)?)
}

fn client(follow_redirects: bool) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(60));
    if !follow_redirects {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    builder.build().context("building an HTTP client")
}

/// A client of the JSON API under `/api/v1`.
#[derive(Clone, Debug)]
pub struct Api {
    /// The server's base URL.
    pub base: String,
    http: reqwest::Client,
}

impl Api {
    /// A client of the server at `base`.
    pub fn new(base: &str) -> anyhow::Result<Api> {
        Ok(Api {
            base: base.trim_end_matches('/').to_owned(),
            http: client(true)?,
        })
    }

    async fn finish(req: reqwest::RequestBuilder, what: &str) -> anyhow::Result<(u16, Value)> {
        let resp = req.send().await.with_context(|| what.to_owned())?;
        let status = resp.status().as_u16();
        let text = resp.text().await.with_context(|| what.to_owned())?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// `GET /api/v1{path}` → (status, JSON body or null).
    pub async fn get(&self, path: &str, token: Option<&str>) -> anyhow::Result<(u16, Value)> {
        let mut req = self.http.get(format!("{}/api/v1{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req, &format!("GET {path}")).await
    }

    /// `POST /api/v1{path}` with a JSON body → (status, JSON body or null).
    pub async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .json(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        Self::finish(req, &format!("POST {path}")).await
    }

    /// Like [`Api::get`], failing unless the status is 2xx; returns the body.
    pub async fn get_ok(&self, path: &str, token: Option<&str>) -> anyhow::Result<Value> {
        let (status, body) = self.get(path, token).await?;
        if !(200..300).contains(&status) {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    /// Like [`Api::post`], failing unless the status is 2xx; returns the body.
    pub async fn post_ok(
        &self,
        path: &str,
        token: Option<&str>,
        body: &Value,
    ) -> anyhow::Result<Value> {
        let (status, answer) = self.post(path, token, body).await?;
        if !(200..300).contains(&status) {
            bail!("POST {path}: {status} {answer}");
        }
        Ok(answer)
    }

    /// Logs a staff account in (demo password `demo1234`); returns the session token.
    pub async fn login(&self, username: &str) -> anyhow::Result<String> {
        let body = self
            .post_ok(
                "/auth/login",
                None,
                &json!({"username": username, "password": "demo1234"}),
            )
            .await?;
        body["token"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no token for {username}: {body}"))
    }

    /// Confirms a payment at the sandbox provider (what pressing 确认支付 on `pay_url` does).
    pub async fn confirm_payment(&self, pay_url: &str) -> anyhow::Result<()> {
        let url = if pay_url.starts_with("http") {
            pay_url.to_owned()
        } else {
            format!("{}{pay_url}", self.base)
        };
        let text = self
            .http
            .post(&url)
            .send()
            .await
            .context("confirming a payment")?
            .text()
            .await?;
        if !text.contains("支付成功") {
            bail!("the sandbox provider did not confirm the payment at {url}");
        }
        Ok(())
    }
}

/// A page as a browser received it.
#[derive(Clone, Debug)]
pub struct Page {
    /// HTTP status.
    pub status: u16,
    /// `Location` of a redirect.
    pub location: Option<String>,
    /// The HTML (or JSON) text.
    pub body: String,
}

/// A cookie-keeping client of the shop and console pages.
#[derive(Debug)]
pub struct Browser {
    /// The server's base URL.
    pub base: String,
    http: reqwest::Client,
    cookies: HashMap<String, String>,
}

impl Browser {
    /// A fresh browser (no cookies) for the server at `base`.
    pub fn new(base: &str) -> anyhow::Result<Browser> {
        Ok(Browser {
            base: base.trim_end_matches('/').to_owned(),
            http: client(false)?,
            cookies: HashMap::new(),
        })
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&mut self, resp: reqwest::Response) -> anyhow::Result<Page> {
        for value in resp.headers().get_all("set-cookie") {
            let Some((k, v)) = value
                .to_str()
                .ok()
                .and_then(|t| t.split(';').next())
                .and_then(|pair| pair.split_once('='))
            else {
                continue;
            };
            if v.is_empty() {
                self.cookies.remove(k);
            } else {
                self.cookies.insert(k.to_owned(), v.to_owned());
            }
        }
        let status = resp.status().as_u16();
        let location = resp
            .headers()
            .get("location")
            .and_then(|l| l.to_str().ok())
            .map(str::to_owned);
        let body = resp.text().await.context("reading a page")?;
        Ok(Page {
            status,
            location,
            body,
        })
    }

    /// GET a page.
    pub async fn get(&mut self, path: &str) -> anyhow::Result<Page> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        self.finish(resp).await
    }

    /// POST a form with the page's CSRF token, as the page's own form would.
    pub async fn submit(&mut self, path: &str, form: &[(&str, &str)]) -> anyhow::Result<Page> {
        let home = self.get("/").await?;
        let token = between(&home.body, "name=\"csrf\" content=\"", "\"")
            .context("no CSRF token on the home page")?
            .to_owned();
        let mut fields = vec![("_csrf", token.as_str())];
        fields.extend_from_slice(form);
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(&fields)?)
            .send()
            .await
            .with_context(|| format!("POST {path}"))?;
        self.finish(resp).await
    }

    /// A shopper's phone logged in to the shop by phone number (the sandbox SMS provider shows
    /// the one-time code on the page).
    pub async fn shopper(base: &str, phone: &str) -> anyhow::Result<Browser> {
        let mut b = Browser::new(base)?;
        let page = b.submit("/login/code", &[("phone", phone)]).await?;
        let code = between(&page.body, "id=\"sms-code\">", "<")
            .with_context(|| format!("no SMS code shown for {phone}"))?
            .to_owned();
        let page = b
            .submit(
                "/login",
                &[
                    ("phone", phone),
                    ("code", &code),
                    ("back", "/me"),
                    ("consent", "on"),
                ],
            )
            .await?;
        if page.status != 303 {
            bail!("logging {phone} in: {} {}", page.status, page.body);
        }
        Ok(b)
    }

    /// A staff member logged in to the console.
    pub async fn console(base: &str, username: &str) -> anyhow::Result<Browser> {
        let mut b = Browser::new(base)?;
        let page = b
            .submit(
                "/console/login",
                &[
                    ("username", username),
                    ("password", "demo1234"),
                    ("back", "/console"),
                ],
            )
            .await?;
        if page.status != 303 {
            bail!("console log-in of {username}: {}", page.status);
        }
        Ok(b)
    }

    /// The member code (MC1…) the member centre shows right now.
    pub async fn member_code(&mut self) -> anyhow::Result<String> {
        let page = self.get("/me/code").await?;
        let body: Value = serde_json::from_str(&page.body)
            .with_context(|| format!("/me/code: {} {}", page.status, page.body))?;
        body["code"]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("no member code in {body}"))
    }

    /// Scan-and-go at `store`: starts a session, adds each `(barcode, sku id, qty)`, pays at the
    /// sandbox provider and returns the exit pass text (EX1…) the phone shows.
    pub async fn scan_and_go(
        &mut self,
        store: &str,
        items: &[(String, uuid::Uuid, i64)],
    ) -> anyhow::Result<String> {
        let page = self
            .submit("/scan/start", &[("store_code", &format!("ST1.{store}"))])
            .await?;
        if page.location.as_deref() != Some("/scan") {
            bail!("scan-and-go at {store} did not start: {:?}", page.location);
        }
        for (barcode, sku, qty) in items {
            let page = self.submit("/scan/add", &[("code", barcode)]).await?;
            if page.location.as_deref() != Some("/scan") {
                bail!("adding {barcode}: {:?}", page.location);
            }
            if *qty != 1 {
                let page = self
                    .submit(
                        "/scan/update",
                        &[("sku", &sku.to_string()), ("qty", &qty.to_string())],
                    )
                    .await?;
                if page.location.as_deref() != Some("/scan") {
                    bail!("setting {barcode} to {qty}: {:?}", page.location);
                }
            }
        }
        let page = self.submit("/scan/pay", &[]).await?;
        let pay = page
            .location
            .filter(|l| l.starts_with("/sandbox/pay/"))
            .with_context(|| format!("paying the scan-and-go basket: {}", page.status))?;
        Api::new(&self.base)?.confirm_payment(&pay).await?;
        let page = self.get("/scan/pass").await?;
        between(&page.body, "data-code-text>", "<")
            .map(str::to_owned)
            .with_context(|| format!("no exit pass on /scan/pass: {}", page.status))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn between_finds_the_first_span() {
        assert_eq!(between("a<b>c</b><b>d</b>", "<b>", "<"), Some("c"));
        assert_eq!(between("abc", "x", "c"), None);
        assert_eq!(between("a<b>c", "<b>", "<"), None);
    }
}
