import pytest
import torch

from media_fixtures import write_video, write_wav
from zoo.data.media import decode_video, load_audio, load_image
from zoo.errors import DataError


def test_non_image_jpg_names_the_file(tmp_path):
    bad = tmp_path / "photo.jpg"
    bad.write_text("this is not a JPEG")
    with pytest.raises(DataError, match=r"photo\.jpg: not an image"):
        load_image(bad)


def test_truncated_jpeg_names_the_file(tmp_path):
    from PIL import Image

    good = tmp_path / "full.jpg"
    Image.new("RGB", (64, 64), (200, 30, 30)).save(good)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(DataError, match=r"cut\.jpg"):
        load_image(cut)


def test_audio_is_resampled_and_mixed_to_mono(tmp_path):
    path = write_wav(tmp_path / "a.wav", seconds=0.5, sample_rate=44100, channels=2)
    wave, sr = load_audio(path, sample_rate=16000)
    assert sr == 16000 and wave.dim() == 1 and abs(wave.shape[0] - 8000) <= 1


def test_wrong_sample_rate_is_refused_when_a_rate_is_required(tmp_path):
    path = write_wav(tmp_path / "a.wav", sample_rate=8000)
    with pytest.raises(DataError, match=r"a\.wav: sample rate is 8000 Hz, expected 16000 Hz"):
        load_audio(path, expect_sample_rate=16000)


def test_corrupt_audio_names_the_file(tmp_path):
    bad = tmp_path / "clip.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    with pytest.raises(DataError, match=r"clip\.wav: audio could not be decoded"):
        load_audio(bad)


def test_video_frames_are_sampled_at_the_requested_rate_with_audio(tmp_path):
    path = write_video(tmp_path / "v.mp4", seconds=1.0, fps=10)
    video = decode_video(path, fps=5)
    assert video.frames.dtype == torch.uint8 and video.frames.shape[1:] == (32, 32, 3)
    assert 5 <= video.frames.shape[0] <= 6
    assert video.audio is not None and video.audio_sample_rate == 16000
    assert abs(video.audio.shape[0] - 16000) < 2048


def test_video_without_audio_track_is_not_an_error(tmp_path):
    video = decode_video(write_video(tmp_path / "silent.mp4", audio_rate=None))
    assert video.audio is None and video.frames.shape[0] == 10


def test_corrupt_video_names_the_file(tmp_path):
    good = write_video(tmp_path / "v.mp4")
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(good.read_bytes()[:100])
    with pytest.raises(DataError, match=r"broken\.mp4"):
        decode_video(bad)
