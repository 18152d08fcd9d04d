// notifier admin: the few behaviours htmx does not cover. Served from /static (no inline scripts).
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-device-choice]");
  if (button) {
    const group = button.closest(".devices");
    group.dataset.device = button.dataset.deviceChoice;
    group.querySelectorAll("[data-device-choice]").forEach((b) =>
      b.setAttribute("aria-pressed", String(b === button)));
  }
  const confirmer = event.target.closest("[data-confirm]");
  if (confirmer && !window.confirm(confirmer.dataset.confirm)) {
    event.preventDefault();
  }
});
