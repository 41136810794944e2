"""Where the picture goes besides the main window: several blended and warped outputs
(layout.py, blend.py, warp.py, multi_display.py) and video to other programs over a virtual
camera or NDI (video_out.py, ndi.py). See docs/venue-outputs.md."""
