// Toasts on every live page: filled in by the toasts work.
