import { useEffect, useMemo, useRef, useState } from "preact/hooks";

import { api, onUnauthorized, setCsrfToken } from "../lib/api";
import { ChatClient } from "../lib/client";
import {
  currentPath,
  currentRoute,
  interceptLinkClick,
  loginPath,
  navigate,
  sanitizeNext,
  subscribeRoute,
  type Route,
} from "../lib/router";
import type { SessionInfo } from "../lib/types";
import { ClientContext } from "./hooks";
import { Login } from "./Login";
import { ResetPassword } from "./ResetPassword";
import { Shell } from "./Shell";
import { EnrolRequired } from "./TwoFactor";

/**
 * "enrol-only": signed in, but the role requires a second factor the account hasn't set
 * up. The server answers nothing but the enrolment calls then, so the app shows only the
 * enrolment page: no store, no event stream (the server would refuse it anyway).
 */
type Auth = "probing" | "signed-out" | "enrol-only" | "signed-in";

export function App() {
  const [route, setRoute] = useState<Route>(currentRoute);
  const [auth, setAuth] = useState<Auth>("probing");
  const [notice, setNotice] = useState<string | null>(null);
  const [enrolling, setEnrolling] = useState<SessionInfo | null>(null);
  // A new login form (a fresh state machine) when a finished login had to be abandoned.
  const [loginKey, setLoginKey] = useState(0);
  // For the 401 handler, registered once: is there a chat client to sign out?
  const authRef = useRef<Auth>(auth);
  authRef.current = auth;

  const client = useMemo(
    () =>
      new ChatClient((reason) => {
        setAuth("signed-out");
        if (reason === "session-ended") setNotice("Your session has ended. Please log in again.");
        // A reset of this account's password ends this session too: the reset page
        // stays to say what happened.
        if (currentRoute().name === "reset") return;
        navigate(reason === "logout" ? "/login" : loginPath(currentPath()), { replace: true });
      }),
    [],
  );

  useEffect(() => subscribeRoute(setRoute), []);

  useEffect(() => {
    document.addEventListener("click", interceptLinkClick);
    const online = () => client.stream.retryNow();
    const offline = () => client.stream.networkLost();
    window.addEventListener("online", online);
    window.addEventListener("offline", offline);
    return () => {
      document.removeEventListener("click", interceptLinkClick);
      window.removeEventListener("online", online);
      window.removeEventListener("offline", offline);
    };
  }, [client]);

  useEffect(() => {
    onUnauthorized(() => {
      if (authRef.current === "enrol-only") leaveEnrolment("session-ended");
      else client.signOut("session-ended");
    });
    api.session().then(
      (session) => signedIn(session, null),
      () => {
        setAuth("signed-out");
        const here = currentRoute();
        if (here.name !== "login" && here.name !== "reset") navigate(loginPath(currentPath()), { replace: true });
      },
    );
    return () => onUnauthorized(null);
    // Runs once: the session probe on page load.
  }, [client]);

  function signedIn(session: SessionInfo, next: string | null) {
    setNotice(null);
    if (session.enrol_only) {
      // The URL stays as it is (a ?next= included) until enrolment is done.
      setCsrfToken(session.csrf_token);
      setEnrolling(session);
      setAuth("enrol-only");
      return;
    }
    setEnrolling(null);
    client.begin(session);
    setAuth("signed-in");
    const here = currentRoute();
    if (here.name === "login") navigate(next ?? here.next, { replace: true });
  }

  /**
   * After a login answer. Whether the session is enrol-only is the session's to say:
   * if the answer doesn't carry it, ask (one request, once per login).
   */
  function loggedIn(session: SessionInfo, next: string | null) {
    if (session.enrol_only !== undefined) return signedIn(session, next);
    api.session().then(
      (full) => signedIn(full, next),
      // Not knowing whether the session is enrol-only, don't start an app the server
      // may refuse: back to the login page, saying so.
      () => {
        setAuth("signed-out");
        setNotice("Signed in, but the session could not be loaded. Please try again.");
        setLoginKey((k) => k + 1);
      },
    );
  }

  /** The session is enrolled now: start the app with a fresh look at the session. */
  function enrolled() {
    api.session().then(
      (session) => signedIn({ ...session, enrol_only: session.enrol_only ?? false }, null),
      () => leaveEnrolment("session-ended"),
    );
  }

  function leaveEnrolment(reason: "logout" | "session-ended") {
    setCsrfToken(null);
    setEnrolling(null);
    setAuth("signed-out");
    if (reason === "session-ended") setNotice("Your session has ended. Please log in again.");
    if (currentRoute().name === "reset") return;
    navigate(reason === "logout" ? "/login" : loginPath(currentPath()), { replace: true });
  }

  async function logoutEnrolling() {
    try {
      await api.logout();
    } catch {
      // The session may already be gone; leaving the page is what matters.
    }
    leaveEnrolment("logout");
  }

  // The reset page needs no session and works signed in or out (to any account); it is
  // rendered before the session is known so that it takes the token out of the address
  // bar at once, and stays mounted (its state intact) whatever the session does.
  if (route.name === "reset") return <ResetPassword />;
  if (auth === "probing") {
    return (
      <div class="splash" role="status">
        Loading…
      </div>
    );
  }
  if (auth === "enrol-only" && enrolling) {
    return (
      <EnrolRequired
        username={enrolling.user.username}
        onEnrolled={enrolled}
        onLogout={() => void logoutEnrolling()}
      />
    );
  }
  if (auth === "signed-out" || route.name === "login") {
    const next = route.name === "login" ? route.next : sanitizeNext(currentPath());
    return <Login key={loginKey} notice={notice} onSignedIn={(s) => loggedIn(s, next)} />;
  }
  return (
    <ClientContext.Provider value={client}>
      <Shell route={route} />
    </ClientContext.Provider>
  );
}
