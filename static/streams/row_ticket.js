// The ticket opened from a row's buy and sell buttons: filled in by the tickets work.
