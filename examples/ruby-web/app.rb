require 'sinatra/base'

# A small shop: the product list and, for the accounting team, a CSV export.
class Shop < Sinatra::Base
  PRODUCTS = [
    { name: 'Watering can', price: 12.5 },
    { name: 'Seed tray', price: 3.2 },
  ].freeze

  get '/' do
    erb :index, locals: { products: PRODUCTS }
  end

  # Linked from nowhere: the accounting team's spreadsheet fetches it.
  get '/export.csv' do
    require 'csv'
    content_type 'text/csv'
    CSV.generate do |csv|
      csv << %w[name price]
      PRODUCTS.each { |p| csv << [p[:name], p[:price]] }
    end
  end
end
