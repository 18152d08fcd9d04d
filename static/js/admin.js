// notifier admin: the few behaviours htmx does not cover. Served from /static (no inline scripts).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-device-choice]");
  if (button) {
    const group = button.closest(".devices");
    group.dataset.device = button.dataset.deviceChoice;
    group.querySelectorAll("[data-device-choice]").forEach((b) =>
      b.setAttribute("aria-pressed", String(b === button)));
    group.querySelectorAll("iframe[data-fit-content]").forEach(fitFrame);
  }
  const confirmer = event.target.closest("[data-confirm]");
  if (confirmer && !window.confirm(confirmer.dataset.confirm)) {
    event.preventDefault();
  }
});

// A message preview is as tall as the message: a fixed height would cut off the legal footer.
function fitFrame(frame) {
  const root = frame.contentDocument && frame.contentDocument.documentElement;
  if (root && frame.offsetParent !== null) {
    frame.style.height = `${root.scrollHeight + 2}px`;
  }
}
// "load" does not bubble: listen in the capture phase, so frames htmx swaps in are fitted too.
document.addEventListener("load", (event) => {
  if (event.target.matches && event.target.matches("iframe[data-fit-content]")) {
    fitFrame(event.target);
  }
}, true);

// The live preview names the template field in error (data-error-field): mark that field invalid
// and point it at the message, and clear the mark once the preview renders again.
const ERROR_MESSAGE = "template-error-message";
function tieTemplateError(preview) {
  const form = preview.closest("form");
  if (!form) return;
  const box = preview.querySelector("[data-error-field]");
  const wanted = box ? box.dataset.errorField : null;
  form.querySelectorAll("input[id], textarea[id]").forEach((field) => {
    const described = (field.getAttribute("aria-describedby") || "").split(/\s+/)
      .filter((id) => id && id !== ERROR_MESSAGE);
    if (field.id === wanted) {
      described.push(ERROR_MESSAGE);
      field.setAttribute("aria-invalid", "true");
    } else {
      field.removeAttribute("aria-invalid");
    }
    if (described.length) field.setAttribute("aria-describedby", described.join(" "));
    else field.removeAttribute("aria-describedby");
  });
}
document.addEventListener("htmx:afterSwap", (event) => {
  if (event.target.id === "preview") tieTemplateError(event.target);
});
