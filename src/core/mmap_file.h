// Read-only memory map of a whole file. Model weights are used in place from the
// map; nothing is copied unless a kernel asks for a repacked layout.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tessera {

class MappedFile {
 public:
  // Throws tessera::Error naming the path when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Lets the kernel drop the resident pages inside [data, data + bytes) of a
// read-only file mapping (whole pages only). Reading them again is still
// valid: they come back from the file. Used once a tensor has been copied
// into another layout, so its bytes do not count twice in memory.
void release_mapped_pages(const uint8_t* data, size_t bytes);

}  // namespace tessera
