// Readers who ask their system for reduced motion see the poster (the static figure)
// and can still start the animation with its controls.
document.addEventListener("DOMContentLoaded", () => {
  if (!window.matchMedia("(prefers-reduced-motion: reduce)").matches) return;
  for (const video of document.querySelectorAll("video.animation-video")) {
    video.removeAttribute("autoplay");
    video.pause();
  }
});
