//! A dialect's endpoints, declared once: [`Routes`] builds the router and records each
//! method and path as it goes, so the route list that mount collisions are checked against
//! is the router's own.

use axum::handler::Handler;
use axum::routing::{self, MethodRouter};
use axum::Router;

use crate::http::AppState;

pub struct Routes {
    router: Router<AppState>,
    list: Vec<(&'static str, &'static str)>,
}

impl Default for Routes {
    fn default() -> Self {
        Routes {
            router: Router::new(),
            list: Vec::new(),
        }
    }
}

macro_rules! method {
    ($name:ident, $verb:literal) => {
        pub fn $name<H, T>(self, path: &'static str, handler: H) -> Self
        where
            H: Handler<T, AppState>,
            T: 'static,
        {
            self.add($verb, path, routing::$name(handler))
        }
    };
}

impl Routes {
    pub fn new() -> Self {
        Routes::default()
    }

    method!(get, "GET");
    method!(post, "POST");
    method!(put, "PUT");
    method!(patch, "PATCH");
    method!(delete, "DELETE");

    /// Several methods on one path merge into one route, as axum does.
    fn add(mut self, method: &'static str, path: &'static str, r: MethodRouter<AppState>) -> Self {
        self.router = self.router.route(path, r);
        self.list.push((method, path));
        self
    }

    /// Every (method, path) served, relative to the mount, in declaration order.
    pub fn list(&self) -> &[(&'static str, &'static str)] {
        &self.list
    }

    pub fn into_router(self) -> Router<AppState> {
        self.router
    }
}
