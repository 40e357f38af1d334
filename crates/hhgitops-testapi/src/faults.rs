//! Failure injection: delays and error responses on chosen requests, and admission-webhook denials of chosen
//! objects. Shared between the test and the running server; every method takes effect on the next request.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// What a matching request suffers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// Wait this long before handling the request (longer than the client's timeout to simulate a hang).
    Delay(Duration),
    /// Answer with this HTTP status (500 `InternalError`, 503 `ServiceUnavailable`, 429 `TooManyRequests` …)
    /// and a `Status` body, without handling the request.
    Error(u16),
}

/// A fault applied to the requests it matches, a limited number of times or until cleared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultRule {
    action: FaultAction,
    method: Option<String>,
    path_contains: Option<String>,
    remaining: Option<usize>,
}

impl FaultRule {
    /// Delays every matching request by `delay`.
    pub fn delay(delay: Duration) -> FaultRule {
        FaultRule {
            action: FaultAction::Delay(delay),
            method: None,
            path_contains: None,
            remaining: None,
        }
    }

    /// Fails every matching request with HTTP `code`.
    pub fn error(code: u16) -> FaultRule {
        FaultRule {
            action: FaultAction::Error(code),
            method: None,
            path_contains: None,
            remaining: None,
        }
    }

    /// Applies to the next `n` matching requests only.
    pub fn times(mut self, n: usize) -> FaultRule {
        self.remaining = Some(n);
        self
    }

    /// Matches only this HTTP method (`"PATCH"`, `"GET"` …).
    pub fn method(mut self, method: &str) -> FaultRule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Matches only paths containing `fragment` (`"/vpcs"`, `"/switches/leaf-01"`).
    pub fn path_contains(mut self, fragment: &str) -> FaultRule {
        self.path_contains = Some(fragment.to_string());
        self
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.remaining != Some(0)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|f| path.contains(f))
    }
}

/// Which writes an admission denial applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdmissionOperation {
    /// Create, update and every kind of patch (including server-side apply).
    Write,
    Delete,
}

#[derive(Debug, Clone)]
struct Denial {
    kind: String,
    name: String,
    message: String,
    operation: AdmissionOperation,
}

#[derive(Debug, Default)]
struct FaultState {
    rules: Vec<FaultRule>,
    denials: Vec<Denial>,
}

/// The fault controls of one server; clones share state.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<Mutex<FaultState>>,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        // A panic while holding this lock cannot leave the state inconsistent: recover the guard.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a rule; rules apply in the order they were added.
    pub fn inject(&self, rule: FaultRule) {
        self.lock().rules.push(rule);
    }

    /// Delays the next `n` requests, whatever they are.
    pub fn delay_next(&self, n: usize, delay: Duration) {
        self.inject(FaultRule::delay(delay).times(n));
    }

    /// Delays every request whose path contains `fragment`, until [`Faults::clear`].
    pub fn delay_matching(&self, fragment: &str, delay: Duration) {
        self.inject(FaultRule::delay(delay).path_contains(fragment));
    }

    /// Answers the next `n` requests with 500 `InternalError`.
    pub fn fail_next(&self, n: usize) {
        self.inject(FaultRule::error(500).times(n));
    }

    /// Answers every request whose path contains `fragment` with 500 `InternalError`, until cleared.
    pub fn fail_matching(&self, fragment: &str) {
        self.inject(FaultRule::error(500).path_contains(fragment));
    }

    /// Makes the admission webhook deny creates, updates and patches (dry runs included) of the object
    /// `kind`/`name` with 422 and `message`, until cleared.
    pub fn deny(&self, kind: &str, name: &str, message: &str) {
        self.add_denial(kind, name, message, AdmissionOperation::Write);
    }

    /// Makes the admission webhook deny deletion of the object `kind`/`name` with 422 and `message`.
    pub fn deny_delete(&self, kind: &str, name: &str, message: &str) {
        self.add_denial(kind, name, message, AdmissionOperation::Delete);
    }

    fn add_denial(&self, kind: &str, name: &str, message: &str, operation: AdmissionOperation) {
        self.lock().denials.push(Denial {
            kind: kind.to_string(),
            name: name.to_string(),
            message: message.to_string(),
            operation,
        });
    }

    /// Removes every rule and denial.
    pub fn clear(&self) {
        let mut s = self.lock();
        s.rules.clear();
        s.denials.clear();
    }

    /// The faults for one incoming request, consuming counted rules: the total delay, then an error if any.
    pub(crate) fn on_request(&self, method: &str, path: &str) -> (Duration, Option<u16>) {
        let mut s = self.lock();
        let mut delay = Duration::ZERO;
        let mut error = None;
        for rule in s.rules.iter_mut() {
            if !rule.matches(method, path) {
                continue;
            }
            if let Some(n) = rule.remaining.as_mut() {
                *n -= 1;
            }
            match rule.action {
                FaultAction::Delay(d) => delay += d,
                FaultAction::Error(code) => {
                    error.get_or_insert(code);
                }
            }
        }
        s.rules.retain(|r| r.remaining != Some(0));
        (delay, error)
    }

    /// The denial message for `operation` on `kind`/`name`, if the test asked for one.
    pub(crate) fn denial(
        &self,
        kind: &str,
        name: &str,
        operation: AdmissionOperation,
    ) -> Option<String> {
        self.lock()
            .denials
            .iter()
            .find(|d| d.kind == kind && d.name == name && d.operation == operation)
            .map(|d| d.message.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counted_rules_expire_and_filters_apply() {
        let f = Faults::default();
        f.inject(
            FaultRule::error(503)
                .times(2)
                .method("patch")
                .path_contains("/vpcs"),
        );
        f.delay_next(1, Duration::from_millis(5));
        assert_eq!(
            f.on_request("GET", "/apis/x/vpcs"),
            (Duration::from_millis(5), None)
        );
        assert_eq!(
            f.on_request("PATCH", "/apis/x/switches"),
            (Duration::ZERO, None)
        );
        assert_eq!(
            f.on_request("PATCH", "/apis/x/vpcs/a"),
            (Duration::ZERO, Some(503))
        );
        assert_eq!(
            f.on_request("PATCH", "/apis/x/vpcs/b"),
            (Duration::ZERO, Some(503))
        );
        assert_eq!(
            f.on_request("PATCH", "/apis/x/vpcs/c"),
            (Duration::ZERO, None)
        );
    }

    #[test]
    fn denials_match_kind_name_and_operation() {
        let f = Faults::default();
        f.deny("VPC", "vpc-1", "subnet overlaps");
        assert_eq!(
            f.denial("VPC", "vpc-1", AdmissionOperation::Write)
                .as_deref(),
            Some("subnet overlaps")
        );
        assert_eq!(f.denial("VPC", "vpc-1", AdmissionOperation::Delete), None);
        assert_eq!(f.denial("VPC", "vpc-2", AdmissionOperation::Write), None);
        f.clear();
        assert_eq!(f.denial("VPC", "vpc-1", AdmissionOperation::Write), None);
    }
}
