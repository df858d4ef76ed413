"""Join: a part's segments, in plan order, into one MP4 with a chapter per item (video stream-copied,
audio encoded once). Imports the stages below it (plan, render), never the run or the commands."""
