// Compiles Asio, Asio.SSL and Beast once for the whole program (BOOST_ASIO_SEPARATE_COMPILATION and
// BOOST_BEAST_SEPARATE_COMPILATION are defined for every target by the top-level CMakeLists.txt).
#include <utility>  // before Asio: asio#944

#include <boost/asio/impl/src.hpp>
#include <boost/asio/ssl/impl/src.hpp>
#include <boost/beast/src.hpp>
