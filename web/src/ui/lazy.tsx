import type { ComponentType } from "preact";
import { useEffect, useState } from "preact/hooks";

/**
 * A component whose code is fetched (a separate chunk, through a dynamic `import()`)
 * the first time it is shown: pages few people open (admin integrations, tokens, the
 * doctor) stay out of the first load. "Loading…" meanwhile; a failed fetch (a deploy
 * replaced the chunk, the network dropped) says so and offers a retry.
 */
export function lazyComponent<P extends object>(load: () => Promise<ComponentType<P>>): ComponentType<P> {
  let loaded: ComponentType<P> | null = null;
  let pending: Promise<ComponentType<P>> | null = null;

  function fetchOnce(): Promise<ComponentType<P>> {
    pending ??= load().then(
      (component) => (loaded = component),
      (err: unknown) => {
        pending = null;
        throw err;
      },
    );
    return pending;
  }

  return function Lazy(props: P) {
    const [, setReady] = useState(0);
    const [failed, setFailed] = useState(false);

    useEffect(() => {
      if (loaded || failed) return;
      let live = true;
      fetchOnce().then(
        () => live && setReady((n) => n + 1),
        () => live && setFailed(true),
      );
      return () => {
        live = false;
      };
    }, [failed]);

    if (loaded) {
      const Component = loaded;
      return <Component {...props} />;
    }
    if (failed) {
      return (
        <p class="error" role="alert">
          This page could not be loaded.{" "}
          <button type="button" class="link-button" onClick={() => setFailed(false)}>
            Try again
          </button>
        </p>
      );
    }
    return (
      <p class="muted" role="status">
        Loading…
      </p>
    );
  };
}
