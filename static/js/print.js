// The public pages' CSP allows no inline handlers: buttons marked data-print open the print dialog.
document.querySelectorAll("[data-print]").forEach((button) => {
  button.addEventListener("click", () => window.print());
});
