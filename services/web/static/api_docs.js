/* The API docs page: Swagger UI reading the OpenAPI document named by #swagger-ui's
 * data-openapi-url. From a file, not an inline script (the page's CSP allows none). Nothing but
 * this server is contacted (no validator badge), and the token typed into "Authorize" is not
 * kept in localStorage (no persistAuthorization): it is gone when the page closes. */
(function () {
  "use strict";
  window.addEventListener("load", function () {
    var box = document.getElementById("swagger-ui");
    window.ui = window.SwaggerUIBundle({
      url: new URL(box.dataset.openapiUrl, window.location.href).href,
      dom_id: "#swagger-ui",
      deepLinking: true,
      presets: [window.SwaggerUIBundle.presets.apis, window.SwaggerUIStandalonePreset],
      plugins: [window.SwaggerUIBundle.plugins.DownloadUrl],
      layout: "StandaloneLayout",
      showExtensions: true,
      showCommonExtensions: true,
      validatorUrl: null,
      persistAuthorization: false
    });
  });
})();
