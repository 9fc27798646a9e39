// On a phone, the theme shows the menu and "On this page" in a dialog. A link to a part
// of the same page moves the page but leaves the dialog open over it: close the dialog
// first (the theme then puts its contents back and refocuses the button), then go.
document.addEventListener("click", (event) => {
  const link = event.target.closest("dialog[open] a[href*='#']");
  if (!link || link.pathname !== location.pathname || link.origin !== location.origin) return;
  event.preventDefault();
  link.closest("dialog").close();
  if (location.hash === link.hash) {
    document.getElementById(decodeURIComponent(link.hash.slice(1)))?.scrollIntoView();
  } else {
    location.hash = link.hash;
  }
});

// The download menu's items save files (the source would otherwise open as raw text).
for (const link of document.querySelectorAll(
  "a.btn-download-source-button, a.btn-download-notebook-button")) {
  link.setAttribute("download", "");
}

// The theme makes an output that scrolls sideways focusable (tabindex 0), so that the
// keyboard can scroll it; a focusable element needs a role that says what it is. A table
// output is a region, named by its place among the page's tables (a region's name must be
// unique), whether or not it scrolls on this screen.
const tableOutputs = [...document.querySelectorAll(".cell_output > .output")]
  .filter((output) => output.querySelector("table"));
tableOutputs.forEach((output, index) => {
  output.setAttribute("role", "region");
  output.setAttribute("aria-label", `Table ${index + 1} of ${tableOutputs.length}`);
});
