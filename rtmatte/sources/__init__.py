"""Where frames come from: video files and pictures, cameras, and files played in real time."""
