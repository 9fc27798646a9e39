// Each animation has its own play/pause button below it, so that no control bar covers
// the plot (a phone shows the browser's bar over the axis whenever the video is paused).
// Readers who ask their system for reduced motion see the poster (the static figure)
// and can start the animation with the button.
document.addEventListener("DOMContentLoaded", () => {
  const still = window.matchMedia("(prefers-reduced-motion: reduce)").matches;
  for (const figure of document.querySelectorAll("figure.animation")) {
    const video = figure.querySelector("video.animation-video");
    const button = figure.querySelector("button.animation-toggle");
    if (still) {
      video.removeAttribute("autoplay");
      video.pause();
    }
    const label = () => {
      button.textContent = video.paused ? "Play the animation" : "Pause the animation";
    };
    button.hidden = false;
    button.addEventListener("click", () => (video.paused ? video.play() : video.pause()));
    video.addEventListener("play", label);
    video.addEventListener("pause", label);
    label();
  }
});
