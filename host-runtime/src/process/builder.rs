//! [`Builder`]: a [`Process`]'s name and daemon flag, before it is made.

use super::{Process, ProcessError, StartMethod};

/// Configuration for a [`Process`], in the manner of [`std::thread::Builder`].
///
/// # Examples
///
/// ```
/// use host_runtime::process::Builder;
///
/// let p = Builder::new().name("worker").daemon(true).spawn(|| {})?;
/// assert_eq!(p.name(), "worker");
/// assert!(p.is_daemon());
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), host_runtime::process::ProcessError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    pub(super) name: Option<String>,
    pub(super) daemon: bool,
    /// `None`: the program's ([`get_start_method`](super::get_start_method)) at the start.
    pub(super) start_method: Option<StartMethod>,
    /// Cleared only by unit tests, to exercise the no-pidfd fallback on any kernel.
    pub(super) use_pidfd: bool,
    /// Cleared only by unit tests, to exercise a daemon's start-up handshake without a socket
    /// (as when no descriptor is free).
    pub(super) use_socket: bool,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// A builder for a non-daemon process with the default name.
    pub fn new() -> Builder {
        Builder {
            name: None,
            daemon: false,
            start_method: None,
            use_pidfd: true,
            use_socket: true,
        }
    }

    /// Names the process (default: `Process-N`). The child sees it through
    /// [`current_process`](super::current_process).
    pub fn name(mut self, name: impl Into<String>) -> Builder {
        self.name = Some(name.into());
        self
    }

    /// Makes the process a daemon (default: `false`): it is killed when the thread that
    /// started it exits (with [`StartMethod::Forkserver`]: when the process that started it
    /// exits, see there). See [Daemon processes](super#daemon-processes).
    pub fn daemon(mut self, daemon: bool) -> Builder {
        self.daemon = daemon;
        self
    }

    /// Starts this process with `method` (Python's `get_context(method).Process`), whatever the
    /// program's start method ([`set_start_method`](super::set_start_method)) is.
    ///
    /// A closure ([`build`](Self::build), [`spawn`](Self::spawn), [`start`](Self::start)) can
    /// only be forked: with another method its start fails with [`ProcessError::NeedsFork`].
    /// [`run`](Self::run) (a `fn` item with serde arguments) works with every available method.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::{Builder, ProcessError, StartMethod};
    ///
    /// let p = Builder::new().start_method(StartMethod::Spawn).build(|| {});
    /// assert!(matches!(p.start(), Err(ProcessError::NeedsFork { method: StartMethod::Spawn })));
    /// let p = Builder::new().start_method(StartMethod::Fork).spawn(|| {})?;
    /// assert_eq!(p.join()?, 0);
    /// # Ok::<(), ProcessError>(())
    /// ```
    pub fn start_method(mut self, method: StartMethod) -> Builder {
        self.start_method = Some(method);
        self
    }

    /// The method a start of this builder's process uses: its own, else the program's.
    pub(super) fn effective_start_method(&self) -> StartMethod {
        self.start_method.unwrap_or_else(super::get_start_method)
    }

    /// Forces the no-pidfd fallback (waiter thread, `kill`), for tests.
    #[cfg(test)]
    pub(crate) fn without_pidfd(mut self) -> Builder {
        self.use_pidfd = false;
        self
    }

    /// Forces a daemon's start-up handshake through shared memory, for tests.
    #[cfg(test)]
    pub(crate) fn without_socket(mut self) -> Builder {
        self.use_socket = false;
        self
    }

    /// Makes an unstarted [`Process`] that will run `f`; [`Process::start`] starts it.
    ///
    /// This takes the next number of the per-process counter, named or not, as Python does.
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::Builder;
    ///
    /// let p = Builder::new().name("later").build(|| {});
    /// assert_eq!(p.pid(), None);
    /// p.start()?;
    /// assert!(p.pid().is_some());
    /// p.join()?;
    /// # Ok::<(), host_runtime::process::ProcessError>(())
    /// ```
    pub fn build<F>(self, f: F) -> Process
    where
        F: FnOnce() + Send + 'static,
    {
        Process::unstarted(self, Box::new(f))
    }

    /// Makes a [`Process`] that runs `f` and starts it.
    ///
    /// # Errors
    ///
    /// As [`Process::start`].
    ///
    /// # Examples
    ///
    /// ```
    /// use host_runtime::process::Builder;
    ///
    /// let p = Builder::new().spawn(|| std::process::exit(3))?;
    /// assert_eq!(p.join()?, 3);
    /// # Ok::<(), host_runtime::process::ProcessError>(())
    /// ```
    pub fn spawn<F>(self, f: F) -> Result<Process, ProcessError>
    where
        F: FnOnce() + Send + 'static,
    {
        let p = self.build(f);
        p.start()?;
        Ok(p)
    }
}
