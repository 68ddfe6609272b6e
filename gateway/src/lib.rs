//! Fleet gateway: REST and WebSocket API, store, auth, histogram aggregation and alerts (work starts with issue 5).
