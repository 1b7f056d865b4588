// Starts Swagger UI on /api/docs. A file rather than an inline script, so the docs
// page runs under a CSP with no 'unsafe-inline'.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
  });
});
